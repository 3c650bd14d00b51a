// Package enginetest is the contract every engine.Engine passes: the
// in-memory engine's tests and the Redis engine's run the same suite, so
// that a behaviour only one of them has shows up as a failure.
package enginetest

import (
	"errors"
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
)

// New makes a fresh engine for one subtest: sessions and rooms of other
// subtests must not be visible in it. Sessions' logs are bounded by
// limits.
type New func(t *testing.T, limits engine.ReplayLimits) engine.Engine

// Run runs the contract against the engines newEngine makes.
func Run(t *testing.T, newEngine New) {
	t.Run("records", func(t *testing.T) { testRecords(t, newEngine(t, engine.ReplayLimits{Events: 16, Bytes: 1024})) })
	t.Run("log", func(t *testing.T) {
		testEventLog(t, newEngine(t, engine.ReplayLimits{Events: 4, Bytes: 100}).Create(engine.SessionRecord{ID: "i", Token: "i.t"}))
	})
	t.Run("applied", func(t *testing.T) {
		testApplied(t, newEngine(t, engine.ReplayLimits{Events: 4, Bytes: 100}).Create(engine.SessionRecord{ID: "u", Token: "u.t"}))
	})
	t.Run("held", func(t *testing.T) { testHeld(t, newEngine(t, engine.ReplayLimits{Events: 16, Bytes: 1024})) })
	t.Run("adopt", func(t *testing.T) { testAdopt(t, newEngine(t, engine.ReplayLimits{Events: 16, Bytes: 1024})) })
	t.Run("rooms", func(t *testing.T) { testRooms(t, newEngine(t, engine.ReplayLimits{Events: 64, Bytes: 64 << 10})) })
	t.Run("relay once", func(t *testing.T) { testRelayOnce(t, newEngine(t, engine.ReplayLimits{Events: 64, Bytes: 64 << 10})) })
}

func testRecords(t *testing.T, store engine.Engine) {
	a, b := engine.SessionRecord{ID: "a", Token: "a.ta"}, engine.SessionRecord{ID: "b", Token: "b.tb"}
	logA, _ := store.Create(a), store.Create(b)
	if _, err := logA.Append([]byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	rec, log, err := store.Find("a.ta")
	if err != nil || rec != a || log.Last() != 1 {
		t.Fatalf("Find(a.ta): %+v %v", rec, err)
	}
	for _, token := range []string{"a", "", "a.tA", "a.ta ", "b.ta", "a.", "."} {
		if _, _, err := store.Find(token); !errors.Is(err, engine.ErrNoSession) {
			t.Fatalf("Find(%q): %v, want ErrNoSession", token, err)
		}
	}
	store.Drop(a)
	if _, _, err := store.Find("a.ta"); !errors.Is(err, engine.ErrNoSession) {
		t.Fatalf("dropped session: %v, want ErrNoSession", err)
	}
	if rec, log, err := store.Find("b.tb"); err != nil || rec != b || log.Last() != 0 {
		t.Fatalf("Find(tb) after dropping a: %+v %v", rec, err)
	}
}

// testEventLog needs a log bounded to 4 events and 100 bytes.
func testEventLog(t *testing.T, log engine.EventLog) {
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
	if _, err := log.Append(frame(10)); !errors.Is(err, engine.ErrLogFull) {
		t.Fatalf("fifth untaken event: %v", err)
	}
	// Taken events make room, oldest first; a resume from before them
	// then fails rather than skip them.
	log.Taken(2)
	mustAppend(10, 5)
	mustAppend(10, 6)
	if _, err := log.Append(frame(10)); !errors.Is(err, engine.ErrLogFull) {
		t.Fatalf("third event over the bound: %v", err)
	}
	if _, err := log.Resume(1); !errors.Is(err, engine.ErrReplayGap) {
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
	if _, err := log.Append(frame(101)); !errors.Is(err, engine.ErrLogFull) {
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
	if _, err := log.Read(4, nil, 10); !errors.Is(err, engine.ErrReplayGap) {
		t.Fatalf("events up to a resume point are still kept: %v", err)
	}
	if _, err := log.Resume(8); !errors.Is(err, engine.ErrReplayGap) {
		t.Fatalf("resume beyond the newest event: %v", err)
	}
	log.Taken(7)
	log.Ack(7)
	if evs, err := log.Read(7, nil, 10); err != nil || len(evs) != 0 || log.Last() != 7 {
		t.Fatalf("fully acknowledged log: %v %v, last %d", evs, err, log.Last())
	}
	if _, err := log.Read(6, nil, 10); !errors.Is(err, engine.ErrReplayGap) {
		t.Fatalf("acknowledged events still kept: %v", err)
	}
}

// testApplied: a client's frames are handled once each, whatever order
// their numbers come in; a gap is no refusal (frames over the rate limit
// are dropped unread).
func testApplied(t *testing.T, log engine.EventLog) {
	if n := log.Applied(); n != 0 {
		t.Fatalf("a new session has applied %d", n)
	}
	for _, step := range []struct {
		cseq    uint64
		fresh   bool
		applied uint64
	}{{1, true, 1}, {1, false, 1}, {3, true, 3}, {2, false, 3}, {3, false, 3}, {4, true, 4}} {
		if fresh := log.Apply(step.cseq); fresh != step.fresh || log.Applied() != step.applied {
			t.Fatalf("Apply(%d): %v, applied %d; want %v, %d", step.cseq, fresh, log.Applied(), step.fresh, step.applied)
		}
	}
	// A resume keeps it.
	if _, err := log.Resume(0); err != nil || log.Applied() != 4 {
		t.Fatalf("after Resume(0): applied %d, %v", log.Applied(), err)
	}
}
