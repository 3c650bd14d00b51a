package state_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/state"
)

// FuzzDecode: whatever a state file holds, Decode returns a snapshot or an
// error, never panics, and a snapshot it accepts encodes back to one that
// decodes the same.
func FuzzDecode(f *testing.F) {
	good, err := state.Encode(sample(time.Unix(1_700_000_000, 0)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	empty, _ := state.Encode(&state.Snapshot{Written: time.Unix(1, 0)})
	f.Add(empty)
	f.Add([]byte("switchboard-state 1 2 00\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := state.Decode(data)
		if err != nil {
			return
		}
		again, err := state.Encode(snap)
		if err != nil {
			t.Fatalf("Encode of a decoded snapshot: %v", err)
		}
		back, err := state.Decode(again)
		if err != nil || !back.Written.Equal(snap.Written) || !reflect.DeepEqual(back.Sessions, snap.Sessions) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, back, snap)
		}
	})
}

// FuzzDecodeBody fuzzes what the checksum hides from FuzzDecode: a body
// of any bytes, under a header that matches it.
func FuzzDecodeBody(f *testing.F) {
	good, err := state.Encode(sample(time.Unix(1_700_000_000, 0)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[bytes.IndexByte(good, '\n')+1:])
	f.Add([]byte{0, 0})
	f.Add([]byte{2, 1, 1, 'A', 32})
	f.Fuzz(func(t *testing.T, body []byte) { decodeBody(t, state.Version, body) })
}

// FuzzDecodeBodyFormat1 is FuzzDecodeBody for the previous release's
// format, which this build still reads.
func FuzzDecodeBodyFormat1(f *testing.F) {
	f.Add(format1Body(sample(time.Unix(1_700_000_000, 0))))
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, body []byte) { decodeBody(t, 1, body) })
}

// decodeBody decodes body under a header of version that matches it: a
// snapshot, or ErrCorrupt; one it accepts the engine restores.
func decodeBody(t *testing.T, version int, body []byte) {
	t.Helper()
	sum := sha256.Sum256(body)
	data := fmt.Appendf(nil, "switchboard-state %d %d %x\n", version, len(body), sum)
	snap, err := state.Decode(append(data, body...))
	if err != nil {
		if !errors.Is(err, state.ErrCorrupt) {
			t.Fatalf("a body with a good header refused with %v, want ErrCorrupt", err)
		}
		return
	}
	m := engine.NewMemory(engine.MemoryConfig{})
	saved := make([]engine.SavedSession, len(snap.Sessions))
	for i, s := range snap.Sessions {
		saved[i] = s.SavedSession
	}
	if err := m.Restore(saved, func(engine.SessionRecord, engine.EventLog) engine.Mailbox { return nil }); err != nil {
		t.Fatalf("a snapshot Decode accepts is refused by the engine: %v", err)
	}
}
