package signaling

import (
	"errors"
	"testing"
)

func TestMemoryLog(t *testing.T) {
	log := NewMemoryStore(ReplayLimits{Events: 4, Bytes: 100}).NewLog("s")
	frame := func(n int) []byte { return make([]byte, n) }
	mustAppend := func(n int, want uint64) {
		t.Helper()
		if seq, err := log.Append(frame(n)); err != nil || seq != want {
			t.Fatalf("Append(%d): seq %d err %v, want %d", n, seq, err, want)
		}
	}
	for i := uint64(1); i <= 4; i++ {
		mustAppend(10, i)
	}
	// Nothing taken yet: a fifth event would drop an unsent one.
	if _, err := log.Append(frame(10)); !errors.Is(err, ErrLogFull) {
		t.Fatalf("fifth untaken event: %v", err)
	}
	// Taken events make room, oldest first; a resume from before them
	// then fails rather than skip them.
	log.Taken(2)
	mustAppend(10, 5)
	mustAppend(10, 6)
	if _, err := log.Append(frame(10)); !errors.Is(err, ErrLogFull) {
		t.Fatalf("third event over the bound: %v", err)
	}
	if _, err := log.Resume(1); !errors.Is(err, ErrReplayGap) {
		t.Fatalf("resume from a dropped event: %v", err)
	}
	evs, err := log.Read(2, nil, 10)
	if err != nil || len(evs) != 4 || evs[0].Seq != 3 || evs[3].Seq != 6 {
		t.Fatalf("Read(2): %v %v", evs, err)
	}
	// Bytes bound: 40 kept, room for 60 once 3 and 4 are taken.
	log.Taken(4)
	mustAppend(60, 7)
	if evs, _ := log.Read(4, nil, 10); len(evs) != 3 {
		t.Fatalf("after a byte-bound trim: %v", evs)
	}
	if _, err := log.Append(frame(101)); !errors.Is(err, ErrLogFull) {
		t.Fatalf("frame over the byte bound: %v", err)
	}
	// Ack is capped at the taken mark: untaken events are never dropped.
	log.Ack(100)
	if evs, _ := log.Read(4, nil, 10); len(evs) != 3 {
		t.Fatalf("Ack past taken dropped untaken events: %v", evs)
	}
	// Resume acknowledges up to after and makes the rest untaken again.
	if last, err := log.Resume(5); err != nil || last != 7 {
		t.Fatalf("Resume(5): %d %v", last, err)
	}
	if _, err := log.Read(4, nil, 10); !errors.Is(err, ErrReplayGap) {
		t.Fatalf("events up to a resume point are still kept: %v", err)
	}
	if _, err := log.Resume(8); !errors.Is(err, ErrReplayGap) {
		t.Fatalf("resume beyond the newest event: %v", err)
	}
	log.Taken(7)
	log.Ack(7)
	if ml := log.(*memoryLog); ml.events != nil || ml.bytes != 0 || log.Last() != 7 {
		t.Fatalf("fully acknowledged log still holds %d events, %d bytes", len(ml.events), ml.bytes)
	}
}
