package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
)

// Version is the snapshot format this build writes and reads. A change to
// what a snapshot holds or means takes the next number: a process never
// restores sessions it would misread.
const Version = 2 // 2: sessions keep the client's last frame handled and client tag

// oldestReadable is the oldest format this build still reads: the one
// the previous release wrote, so that the restart onto this release
// keeps its sessions too.
const oldestReadable = 1

// magic starts every snapshot's header line.
const magic = "switchboard-state"

// maxHeader bounds the header line: magic, version, length, checksum.
const maxHeader = 128

// Snapshot is what a stopping node keeps of its sessions.
type Snapshot struct {
	Written  time.Time // when it was taken: a snapshot older than the grace period is stale
	Sessions []Session
}

// Session is one session of a Snapshot: what the engine keeps of it, and
// what the node does (its client's address, its grace period's end).
type Session struct {
	engine.SavedSession
	// Source is the client's address as per-address limits count it.
	Source netip.Addr
	// GraceEnds is when (Unix ns) the session ends unless a channel
	// resumes it.
	GraceEnds int64
}

// Encode returns s as a state file holds it: a header line (magic,
// version, the body's length and SHA-256, so that a truncated or damaged
// file is told apart from a good one), then the body (body.go).
func Encode(s *Snapshot) ([]byte, error) {
	header, body := encode(s)
	return append(header, body...), nil
}

// encode returns a snapshot's header and body apart: a state file writes
// one after the other, rather than copying the body behind the header.
func encode(s *Snapshot) (header, body []byte) {
	size := 32
	for i := range s.Sessions {
		ss := &s.Sessions[i]
		size += 128 + len(ss.ID) + len(ss.Room) + len(ss.Name)
		for _, f := range ss.Frames {
			size += len(f) + binary.MaxVarintLen64
		}
	}
	body = appendBody(make([]byte, 0, size), s)
	sum := sha256.Sum256(body)
	return fmt.Appendf(make([]byte, 0, maxHeader), "%s %d %d %x\n", magic, Version, len(body), sum), body
}

// Decode reads a snapshot Encode wrote, refusing with ErrVersion,
// ErrTruncated or ErrCorrupt one that cannot be trusted whole.
func Decode(data []byte) (*Snapshot, error) {
	line, _, found := bytes.Cut(data[:min(len(data), maxHeader)], []byte("\n"))
	if !found {
		if len(data) < maxHeader && bytes.HasPrefix([]byte(magic), data[:min(len(data), len(magic))]) {
			return nil, fmt.Errorf("%w: %d bytes, no complete header", ErrTruncated, len(data))
		}
		return nil, fmt.Errorf("%w: no header line", ErrCorrupt)
	}
	rest := data[len(line)+1:]
	fields := bytes.Fields(line)
	if len(fields) < 2 || string(fields[0]) != magic {
		return nil, fmt.Errorf("%w: not a switchboard state file", ErrCorrupt)
	}
	version, verr := strconv.Atoi(string(fields[1]))
	if verr != nil || version < oldestReadable || version > Version {
		return nil, fmt.Errorf("%w: format %q, this build reads %d to %d", ErrVersion, fields[1], oldestReadable, Version)
	}
	if len(fields) != 4 {
		return nil, fmt.Errorf("%w: header has %d fields, want 4", ErrCorrupt, len(fields))
	}
	n, err := strconv.ParseUint(string(fields[2]), 10, 63)
	want, herr := hex.DecodeString(string(fields[3]))
	if err != nil || herr != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("%w: bad length or checksum in header", ErrCorrupt)
	}
	switch {
	case uint64(len(rest)) < n:
		return nil, fmt.Errorf("%w: %d of %d bytes", ErrTruncated, len(rest), n)
	case uint64(len(rest)) > n:
		return nil, fmt.Errorf("%w: %d bytes after the body", ErrCorrupt, uint64(len(rest))-n)
	}
	if sum := sha256.Sum256(rest); !bytes.Equal(sum[:], want) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	snap, err := readBody(rest, version)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	seen := make(map[string]bool, len(snap.Sessions))
	for i := range snap.Sessions {
		s := &snap.Sessions[i]
		if err := s.Check(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if seen[s.ID] {
			return nil, fmt.Errorf("%w: session %s twice", ErrCorrupt, s.ID)
		}
		seen[s.ID] = true
	}
	return snap, nil
}

// Check refuses a snapshot whose sessions' grace periods have all ended
// by now: one older than maxAge, the grace period, or written after now
// by more than maxAge (a clock that jumped is no ground to trust it).
func (s *Snapshot) Check(now time.Time, maxAge time.Duration) error {
	age := now.Sub(s.Written)
	if age > maxAge || age < -maxAge {
		return fmt.Errorf("%w: written %v ago, grace period %v", ErrStale, age.Round(time.Millisecond), maxAge)
	}
	return nil
}
