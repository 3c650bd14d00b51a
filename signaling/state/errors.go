package state

import "errors"

// Why a snapshot or a state file is refused; Load and Decode wrap them
// with the detail.
var (
	// ErrVersion: a snapshot in a format this build does not read.
	ErrVersion = errors.New("snapshot from another format version")
	// ErrTruncated: a snapshot shorter than its header says.
	ErrTruncated = errors.New("snapshot is truncated")
	// ErrCorrupt: a snapshot whose checksum, encoding or content is wrong.
	ErrCorrupt = errors.New("snapshot is corrupt")
	// ErrStale: a snapshot older than the grace period of its sessions.
	ErrStale = errors.New("snapshot is older than the resume grace period")
	// ErrLocked: another process runs on the state file and did not stop
	// in time.
	ErrLocked = errors.New("state file is in use by another process")
)
