package signaling

import (
	"context"
	"fmt"
	"strconv"
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
	waitDetached(t, a, carol.welcome.str("token"))
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

// TestRestartKeepsSSEAndPoll: the same restart for a session on an event
// stream (which ends with the resume notice) and one that polls (which
// holds no channel when the node stops): both resume on the next process
// from where they were, and their peers hear nothing.
func TestRestartKeepsSSEAndPoll(t *testing.T) {
	cfg := Config{KeepSessions: true}
	a, urlA := startServer(t, cfg)
	baseA := httpBase(urlA)
	bobS := openSSE(t, baseA, "", "")
	bobWelcome := bobS.expect("welcome")
	bobToken := bobWelcome.str("token")
	status, frames := poll(t, baseA, "")
	if status != 200 || len(frames) != 1 || frames[0].str("type") != "welcome" {
		t.Fatalf("first poll: %d %v", status, frames)
	}
	carolToken, carolID := frames[0].str("token"), frames[0].str("session")
	postOK(t, baseA, bobToken, frame{"type": "join", "room": "r"})
	bobS.expect("joined")
	postOK(t, baseA, carolToken, frame{"type": "join", "room": "r"})
	bobS.expect("peer-joined")
	alice := dial(t, urlA, nil)
	alice.join("r")
	bobS.expect("peer-joined")
	alice.send(frame{"type": "offer", "to": bobWelcome.str("session"), "sdp": "v=0 to bob"})
	alice.send(frame{"type": "offer", "to": carolID, "sdp": "v=0 to carol"})
	lastBob := seqOf(bobS.expect("offer"))
	alice.send(frame{"type": "ping"})
	lastAlice := seqOf(alice.expect("pong"))
	// Carol's joined, peer-joined and offer wait in her log, unpolled.
	_, frames = poll(t, baseA, "token="+carolToken+"&after=1")
	var lastCarol int
	for _, f := range frames {
		if f.str("type") == "offer" {
			break
		}
		lastCarol = seqOf(f)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if e := bobS.expect("error"); e.str("code") != wire.CodeResume {
		t.Fatalf("the event stream ended with %v, want the resume notice", e)
	}
	bobS.expectEnd()
	alice.expectClose()
	data, err := state.Encode(a.Snapshot(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := state.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	b, urlB := startServer(t, cfg)
	if n, err := b.Restore(snap); n != 3 || err != nil {
		t.Fatalf("Restore = %d, %v", n, err)
	}
	baseB := httpBase(urlB)

	bob2 := openSSE(t, baseB, "token="+bobToken, strconv.Itoa(lastBob))
	bob2.expect("resumed")
	status, frames = poll(t, baseB, fmt.Sprintf("token=%s&after=%d", carolToken, lastCarol))
	if status != 200 || len(frames) != 1 || frames[0].str("type") != "offer" || frames[0].str("sdp") != "v=0 to carol" {
		t.Fatalf("carol's poll after the restart: %d %v, want her offer once", status, frames)
	}
	postOK(t, baseB, carolToken, frame{"type": "answer", "to": alice.id, "sdp": "v=0 from carol"})
	postOK(t, baseB, bobToken, frame{"type": "answer", "to": alice.id, "sdp": "v=0 from bob"})
	alice2 := dialRaw(t, fmt.Sprintf("%s?token=%s&after=%d", urlB, alice.welcome.str("token"), lastAlice))
	alice2.expect("resumed")
	if f := alice2.expect("answer"); f.str("sdp") != "v=0 from carol" {
		t.Fatalf("alice got %v", f)
	}
	if f := alice2.expect("answer"); f.str("sdp") != "v=0 from bob" {
		t.Fatalf("alice got %v", f)
	}
	alice2.id = alice.id
	alice2.alive() // and no peer-left before it
	alice2.send(frame{"type": "message", "to": bobWelcome.str("session"), "data": "still here"})
	if f := bob2.expect("message"); seqOf(f) != lastBob+1 {
		t.Fatalf("bob's next event %v, want seq %d: nothing lost, nothing twice", f, lastBob+1)
	}
}
