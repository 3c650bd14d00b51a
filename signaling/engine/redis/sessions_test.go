package redis

import (
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TestRedisMarks: taken marks and acks wait on the node for the next
// batch of marks, and a resume drops the ones still waiting rather than
// letting them land after its untaking.
func TestRedisMarks(t *testing.T) {
	rs := redistest.Start(t)
	eng := newTestEngine(t, rs.Client(t), Config{Limits: engine.ReplayLimits{Events: 16, Bytes: 1024}})
	log := eng.Create(engine.SessionRecord{ID: "a", Token: "a.ta"})
	inRedis := func(field string) string {
		t.Helper()
		v, err := rs.Client(t).HGet(t.Context(), "{sb}:s:a", field).Result()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for range 3 {
		if _, err := log.Append([]byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	log.Taken(2)
	log.Ack(1)
	eng.marks.flush()
	if taken, first := inRedis("taken"), inRedis("first"); taken != "2" || first != "2" {
		t.Fatalf("after a batch of marks: taken %s, first kept %s; want 2, 2", taken, first)
	}
	log.Taken(3)
	if _, err := log.Resume(1); err != nil {
		t.Fatal(err)
	}
	eng.marks.flush()
	if got := inRedis("taken"); got != "1" {
		t.Fatalf("taken in Redis after Resume(1): %s, want 1", got)
	}
}

// TestAppliedFollowsTheSession: the client's last frame handled (its
// mark, batched like the others) reaches the node that takes the session
// over, which skips the frames the client sends again.
func TestAppliedFollowsTheSession(t *testing.T) {
	rs := redistest.Start(t)
	cfg := Config{Limits: engine.ReplayLimits{Events: 16, Bytes: 1024}}
	a := newTestEngine(t, rs.Client(t), cfg)
	b := newTestEngine(t, rs.Client(t), cfg)
	rec := engine.SessionRecord{ID: "s", Token: "s.t"}
	log := a.Create(rec)
	if _, err := a.Adopt(rec, &recorder{}); err != nil {
		t.Fatal(err)
	}
	for cseq := uint64(1); cseq <= 5; cseq++ {
		log.Apply(cseq)
	}
	a.marks.flush()
	_, found, err := b.Find(rec.Token)
	if err != nil || found.Applied() != 5 {
		t.Fatalf("Find on another node: %v, applied %v; want 5", err, found)
	}
	if _, err := b.Adopt(rec, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if found.Apply(5) || !found.Apply(6) {
		t.Fatal("the node that took the session over handled frame 5 again, or not frame 6")
	}
	// A Resume learns what was applied meanwhile, on another handle.
	log.Apply(9)
	a.marks.flush()
	if _, err := found.Resume(0); err != nil || found.Applied() != 9 {
		t.Fatalf("after Resume: applied %d, %v; want 9", found.Applied(), err)
	}
}

// TestAppliedWithTheSend: a relayed frame's number is recorded by the send
// itself, not only by the batch of marks: a node that takes the sender
// over right after it (before any batch) never relays it again.
func TestAppliedWithTheSend(t *testing.T) {
	rs := redistest.Start(t)
	cfg := Config{Limits: engine.ReplayLimits{Events: 16, Bytes: 1024}}
	a := newTestEngine(t, rs.Client(t), cfg)
	b := newTestEngine(t, rs.Client(t), cfg)
	sender, peer := engine.SessionRecord{ID: "s", Token: "s.t"}, engine.SessionRecord{ID: "p", Token: "p.t"}
	log := a.Create(sender)
	a.Create(peer)
	for _, rec := range []engine.SessionRecord{sender, peer} {
		if _, err := a.Adopt(rec, &recorder{}); err != nil {
			t.Fatal(err)
		}
		if err := a.Join("r", wire.PeerInfo{ID: rec.ID}, &recorder{}, 0, plainJoined, []byte(`{"type":"peer-joined"}`)); err != nil {
			t.Fatal(err)
		}
	}
	// Frame 9 is not in any batch of marks (no Apply here): only the send
	// can have recorded it.
	log.Apply(7)
	if err := a.Send("r", "s", "p", []byte(`{"type":"message"}`), 9); err != nil {
		t.Fatal(err)
	}
	if _, found, err := b.Find(sender.Token); err != nil || found.Applied() != 9 {
		t.Fatalf("another node's Find after the send: %v; want applied 9", found)
	}
}
