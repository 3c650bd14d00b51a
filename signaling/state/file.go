package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// lockPoll is how often Open tries a lock another process holds: the
// time a restart may lose to it, against wakeups of a waiting process.
const lockPoll = 10 * time.Millisecond

// File is a state file, held by this process: its lock (the path with
// ".lock") is taken while the process runs, so that two processes never
// both restore or write the same sessions.
type File struct {
	path string
	lock *os.File
}

// Open takes the state file at path, creating its directory (mode 0700)
// as needed. When another process holds it, waiting is called once with
// that process's id, and Open waits for it to let go (it writes its
// snapshot, then exits) until ctx ends: then ErrLocked.
func Open(ctx context.Context, path string, waiting func(holder string)) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state file directory: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state file lock: %w", err)
	}
	tick := time.NewTicker(lockPoll)
	defer tick.Stop()
	for told := false; ; {
		ok, err := tryLock(lock)
		if err != nil {
			lock.Close()
			return nil, fmt.Errorf("state file lock: %w", err)
		}
		if ok {
			break
		}
		if !told && waiting != nil {
			waiting(holder(lock))
			told = true
		}
		select {
		case <-ctx.Done():
			h := holder(lock)
			lock.Close()
			return nil, fmt.Errorf("%w: %s (held by process %s)", ErrLocked, path, h)
		case <-tick.C:
		}
	}
	// The holder's id, for the next process's log line.
	if err := lock.Truncate(0); err == nil {
		_, _ = lock.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &File{path: path, lock: lock}, nil
}

func holder(lock *os.File) string {
	b := make([]byte, 16)
	n, _ := lock.ReadAt(b, 0)
	if h := strings.TrimSpace(string(b[:n])); h != "" {
		return h
	}
	return "unknown"
}

// Path is the state file's path.
func (f *File) Path() string { return f.path }

// Load reads the snapshot the previous process wrote, if any, and removes
// the file: nil, nil when there is none. A snapshot that Decode or Check
// (with now and maxAge) refuses is renamed to the path with ".refused",
// for a look, and its error returned; so is one that cannot be removed,
// which a later process could otherwise restore a second time.
func (f *File) Load(now time.Time, maxAge time.Duration) (*Snapshot, error) {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state file: %w", err)
	}
	snap, err := Decode(data)
	if err == nil {
		err = snap.Check(now, maxAge)
	}
	if err != nil {
		if rerr := os.Rename(f.path, f.path+".refused"); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, err
	}
	if err := os.Remove(f.path); err != nil {
		return nil, fmt.Errorf("state file not restored: it cannot be removed: %w", err)
	}
	return snap, nil
}

// Save writes s to the state file atomically: into a temporary file
// (mode 0600) beside it, synced, renamed over it, and the directory
// synced, so that a crash leaves the old file or the new one, whole.
func (f *File) Save(s *Snapshot) error {
	header, body := encode(s)
	tmp := f.path + ".tmp"
	w, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	_, err = w.Write(header)
	if err == nil {
		_, err = w.Write(body)
	}
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing state file: %w", err)
	}
	if dir, err := os.Open(filepath.Dir(f.path)); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	return nil
}

// Close lets the state file go: the next process may take it.
func (f *File) Close() error {
	return f.lock.Close() // closing the descriptor releases its lock
}
