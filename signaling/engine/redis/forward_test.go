package redis

import (
	"errors"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
)

// TestForward: a request for a session another node runs reaches that
// node's mailbox and its answer comes back; once no node runs the
// session, or its node does not answer, Forward says so.
func TestForward(t *testing.T) {
	rs := redistest.Start(t)
	a := newTestEngine(t, rs.Client(t), Config{NodeID: "a"})
	b := newTestEngine(t, rs.Client(t), Config{NodeID: "b", Timeout: 300 * time.Millisecond})
	rec := engine.SessionRecord{ID: "s", Token: "s.ts"}
	a.Create(rec)
	if _, err := a.Adopt(rec, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Forward(t.Context(), rec, []byte("hello"), 0); err != nil || string(got) != "hello" {
		t.Fatalf("Forward to the session's node: %q %v", got, err)
	}
	if _, err := a.Forward(t.Context(), rec, []byte("x"), 0); !errors.Is(err, engine.ErrNotRunning) {
		t.Fatalf("Forward to the node itself: %v", err)
	}
	// a stops answering (closed, still named the session's node).
	a.Close()
	start := time.Now()
	if _, err := b.Forward(t.Context(), rec, []byte("x"), 0); !errors.Is(err, engine.ErrNotRunning) {
		t.Fatalf("Forward to a node that does not answer: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("gave up after %v, before the timeout", d)
	}
	// b adopts the session: a's record is gone, and a third node's
	// request comes to b.
	if _, err := b.Adopt(rec, &recorder{}); err != nil {
		t.Fatal(err)
	}
	c := newTestEngine(t, rs.Client(t), Config{NodeID: "c"})
	if got, err := c.Forward(t.Context(), rec, []byte("again"), 0); err != nil || string(got) != "again" {
		t.Fatalf("Forward after the adoption: %q %v", got, err)
	}
	b.HandOver()
	if _, err := c.Forward(t.Context(), rec, []byte("x"), 0); !errors.Is(err, engine.ErrNotRunning) {
		t.Fatalf("Forward after the hand-over: %v", err)
	}
}
