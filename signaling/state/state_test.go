package state_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/state"
)

func sample(written time.Time) *state.Snapshot {
	return &state.Snapshot{Written: written, Sessions: []state.Session{
		{SavedSession: engine.SavedSession{ID: "A", TokenHash: engine.TokenHash("A.s"), Room: "r", Name: "Ann", ClientTag: "TAG", Limit: 16,
			Next: 5, Taken: 4, Applied: 9, Frames: [][]byte{[]byte(`{"type":"offer","seq":4}`), []byte(`{"type":"answer","seq":5}`)}},
			Source: netip.MustParseAddr("192.0.2.1"), GraceEnds: written.Add(30 * time.Second).UnixNano()},
		{SavedSession: engine.SavedSession{ID: "B", TokenHash: engine.TokenHash("B.s"), Next: 1, Taken: 1},
			Source: netip.MustParseAddr("2001:db8::1"), GraceEnds: written.Add(10 * time.Second).UnixNano()},
	}}
}

func openFile(t *testing.T, path string) *state.File {
	t.Helper()
	f, err := state.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestSaveLoad: a snapshot comes back as it was saved, once: Load removes
// the file. It is written with mode 0600 and holds no token.
func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state")
	f := openFile(t, path)
	now := time.Now()
	want := sample(now)
	if err := f.Save(want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file %v, %v: want mode 0600", fi.Mode(), err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("A.s")) {
		t.Fatal("the state file holds a token")
	}
	got, err := f.Load(now.Add(time.Second), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Written.Equal(want.Written) || !reflect.DeepEqual(got.Sessions, want.Sessions) {
		t.Fatalf("loaded %+v\nwant %+v", got, want)
	}
	if again, err := f.Load(now, 30*time.Second); again != nil || err != nil {
		t.Fatalf("second Load = %v, %v: want nothing", again, err)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatal("the temporary file stayed")
	}
}

// TestLoadRefuses: every snapshot that cannot be trusted whole is refused
// with its error, renamed aside, and the next Load finds nothing.
func TestLoadRefuses(t *testing.T) {
	now := time.Now()
	good, err := state.Encode(sample(now))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-10] ^= 1
	otherVersion := bytes.Replace(good, fmt.Appendf(nil, "switchboard-state %d ", state.Version), fmt.Appendf(nil, "switchboard-state %d ", state.Version+1), 1)
	badSession, _ := state.Encode(&state.Snapshot{Written: now, Sessions: []state.Session{{SavedSession: engine.SavedSession{ID: "x", TokenHash: []byte("short")}}}})
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"corrupt", flipped, state.ErrCorrupt},
		{"truncated body", good[:len(good)-7], state.ErrTruncated},
		{"truncated header", good[:10], state.ErrTruncated},
		{"empty", nil, state.ErrTruncated},
		{"not a state file", []byte("{}\n"), state.ErrCorrupt},
		{"trailing bytes", append(bytes.Clone(good), '\n'), state.ErrCorrupt},
		{"other version", otherVersion, state.ErrVersion},
		{"bad session", badSession, state.ErrCorrupt},
		{"stale", mustEncode(t, sample(now.Add(-31*time.Second))), state.ErrStale},
		{"from the future", mustEncode(t, sample(now.Add(time.Hour))), state.ErrStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			f := openFile(t, path)
			snap, err := f.Load(now, 30*time.Second)
			if snap != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Load = %v, %v: want %v", snap, err, tc.want)
			}
			if _, err := os.Stat(path + ".refused"); err != nil {
				t.Fatalf("refused file not kept aside: %v", err)
			}
			if snap, err := f.Load(now, 30*time.Second); snap != nil || err != nil {
				t.Fatalf("Load after a refusal = %v, %v: want nothing", snap, err)
			}
		})
	}
}

func mustEncode(t *testing.T, s *state.Snapshot) []byte {
	t.Helper()
	b, err := state.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnwritableDirectory: a state file where no directory can be made is
// refused at Open, and a Save into a directory gone since fails whole,
// leaving nothing half-written. (Made with a file in the directory's
// place: permissions do not stop root.)
func TestUnwritableDirectory(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := state.Open(context.Background(), filepath.Join(blocker, "state"), nil); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("Open under a file: %v", err)
	}
	sub := filepath.Join(dir, "sub")
	f := openFile(t, filepath.Join(sub, "state"))
	if err := os.RemoveAll(sub); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sub, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(sample(time.Now())); err == nil {
		t.Fatal("Save into a directory that is a file succeeded")
	}
}

// TestTwoProcessesOneFile: while one holder has the state file, another
// waits, is told who holds it, and gives up when its context ends; once
// the holder lets go (having saved), the next takes the file and its
// snapshot, once.
func TestTwoProcessesOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	first := openFile(t, path)
	var told string
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := state.Open(ctx, path, func(h string) { told = h }); !errors.Is(err, state.ErrLocked) {
		t.Fatalf("second Open while held: %v, want ErrLocked", err)
	}
	if told != itoa(os.Getpid()) {
		t.Fatalf("told the holder is %q, want this process", told)
	}
	now := time.Now()
	if err := first.Save(sample(now)); err != nil {
		t.Fatal(err)
	}
	second := make(chan *state.File, 1)
	go func() {
		f, err := state.Open(context.Background(), path, nil)
		if err != nil {
			t.Error(err)
		}
		second <- f
	}()
	select {
	case <-second:
		t.Fatal("the second took the file while the first held it")
	case <-time.After(30 * time.Millisecond): // a negative check: nothing to wait on
	}
	first.Close()
	var f *state.File
	select {
	case f = <-second:
	case <-time.After(5 * time.Second):
		t.Fatal("the second did not take the file once it was let go")
	}
	defer f.Close()
	if snap, err := f.Load(now, 30*time.Second); err != nil || snap == nil {
		t.Fatalf("the second's Load: %v, %v", snap, err)
	}
	third, err := state.Open(ctx, path, nil)
	if err == nil {
		third.Close()
		t.Fatal("a third took the file the second holds")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestReadsFormat1: a state file the previous release wrote (format 1:
// no client tags, no applied marks) is still restored, so the restart
// onto this release keeps its sessions.
func TestReadsFormat1(t *testing.T) {
	now := time.Now()
	want := sample(now)
	for i := range want.Sessions {
		want.Sessions[i].ClientTag, want.Sessions[i].Applied = "", 0 // what format 1 cannot say
	}
	body := format1Body(want)
	sum := sha256.Sum256(body)
	got, err := state.Decode(append(fmt.Appendf(nil, "switchboard-state 1 %d %x\n", len(body), sum), body...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Sessions) != len(want.Sessions) {
		t.Fatalf("%d sessions, want %d", len(got.Sessions), len(want.Sessions))
	}
	for i := range want.Sessions {
		if !reflect.DeepEqual(got.Sessions[i], want.Sessions[i]) {
			t.Fatalf("session %d:\n got %+v\nwant %+v", i, got.Sessions[i], want.Sessions[i])
		}
	}
}

// format1Body is snap's body as format 1 wrote it.
func format1Body(snap *state.Snapshot) []byte {
	str := func(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	body := binary.AppendVarint(nil, snap.Written.UnixNano())
	body = binary.AppendUvarint(body, uint64(len(snap.Sessions)))
	for i := range snap.Sessions {
		s := &snap.Sessions[i]
		body = str(body, s.ID)
		body = str(body, string(s.TokenHash))
		body = str(body, s.Room)
		body = str(body, s.Name)
		body = binary.AppendUvarint(body, uint64(s.Limit))
		body = binary.AppendUvarint(body, s.Next)
		body = binary.AppendUvarint(body, s.Taken)
		src, _ := s.Source.MarshalBinary()
		body = str(body, string(src))
		body = binary.AppendVarint(body, s.GraceEnds)
		body = binary.AppendUvarint(body, uint64(len(s.Frames)))
		for _, f := range s.Frames {
			body = str(body, string(f))
		}
	}
	return body
}
