package signaling

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/state"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TestRestartKeepsSessions: a node that stops with KeepSessions closes
// its channels with 4000 resume; the next one restores its snapshot (here
// through the state file's encoding), and the clients resume there as
// after a dropped channel: the events they had not taken come once and
// in order, the room goes on, and the only peer-left is for the session
// whose grace period ran out, kept across the restart.
func TestRestartKeepsSessions(t *testing.T) {
	cfg := Config{KeepSessions: true, ResumeGrace: 3 * time.Second}
	a, urlA := startServer(t, cfg)
	alice, bob, carol := dial(t, urlA, nil), dial(t, urlA, nil), dial(t, urlA, nil)
	alice.join("r")
	bob.join("r")
	alice.expect("peer-joined")
	carol.join("r")
	alice.expect("peer-joined")
	bob.expect("peer-joined")
	alice.send(frame{"type": "offer", "to": bob.id, "sdp": "v=0 offer"})
	lastBob := seqOf(bob.expect("offer"))
	alice.send(frame{"type": "candidate", "to": bob.id, "candidate": frame{"candidate": "c0"}})
	alice.send(frame{"type": "ping"})
	lastAlice := seqOf(alice.expect("pong")) // the candidate is in bob's log, maybe on its way to him
	carol.ws.Close()
	waitUntil(t, func() bool { return a.lookup(carol.welcome.str("token")).attached() == nil })
	carolLeft := time.Now().Add(cfg.ResumeGrace)

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{alice, bob} {
		if ce := c.expectClose(); ce.Code != wire.CloseResume || ce.Text != wire.CodeResume {
			t.Fatalf("close %d %q, want 4000 resume", ce.Code, ce.Text)
		}
	}
	data, err := state.Encode(a.Snapshot(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := state.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Sessions) != 3 {
		t.Fatalf("snapshot of %d sessions, want 3", len(snap.Sessions))
	}
	for _, s := range snap.Sessions {
		if s.ID == carol.id && time.Unix(0, s.GraceEnds).After(carolLeft) {
			t.Fatalf("carol's grace period restarted with the node: ends %v, want by %v", time.Unix(0, s.GraceEnds), carolLeft)
		}
	}

	b, urlB := startServer(t, cfg)
	if n, err := b.Restore(snap); n != 3 || err != nil {
		t.Fatalf("Restore = %d, %v", n, err)
	}
	bob2 := dialRaw(t, fmt.Sprintf("%s?token=%s&after=%d", urlB, bob.welcome.str("token"), lastBob))
	if r := bob2.expect("resumed"); r.str("session") != bob.id {
		t.Fatalf("resumed %v", r)
	}
	if f := bob2.expect("candidate"); seqOf(f) != lastBob+1 {
		t.Fatalf("replayed %v, want the candidate as seq %d", f, lastBob+1)
	}
	bob2.id = bob.id
	bob2.alive() // nothing else queued: the offer is not handled twice
	bob2.send(frame{"type": "answer", "to": alice.id, "sdp": "v=0 answer"})

	alice2 := dialRaw(t, fmt.Sprintf("%s?token=%s&after=%d", urlB, alice.welcome.str("token"), lastAlice))
	alice2.expect("resumed")
	if f := alice2.expect("answer"); f.str("from") != bob.id {
		t.Fatalf("alice got %v", f)
	}
	// Carol never comes back: her grace period, which did not start over,
	// ends, and only then does anyone hear she left.
	for _, c := range []*client{alice2, bob2} {
		if f := c.expect("peer-left"); f["peer"].(map[string]any)["id"] != carol.id || time.Now().Before(carolLeft.Add(-time.Second)) {
			t.Fatalf("%v at %v, want carol's peer-left about %v", f, time.Now(), carolLeft)
		}
	}
	if _, err := b.Restore(snap); err == nil {
		t.Fatal("a second Restore into a serving node succeeded")
	}
	// A wrong token is no way into a restored session.
	wrong := dialRaw(t, urlB+"?token="+alice.id+".wrong")
	wrong.expect("error")
	wrong.expect("welcome")
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		<-tick.C
	}
}
