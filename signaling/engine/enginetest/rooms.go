package enginetest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// peer is a session for the contract: its mailbox appends what it is
// delivered to its own log, as a node's session does, so that every
// engine's deliveries are read back the same way, from the logs.
type peer struct {
	rec      engine.SessionRecord
	log      engine.EventLog
	released string
}

func (p *peer) Deliver(frame []byte) { _, _ = p.log.Append(frame) }
func (p *peer) Wake()                {}
func (p *peer) Overflow()            {}
func (p *peer) Release(reason string) {
	p.released = reason
}
func (p *peer) Forwarded(request []byte) []byte { return append([]byte("answer to "), request...) }

// newPeer creates and adopts a session named id.
func newPeer(t *testing.T, e engine.Engine, id string) *peer {
	t.Helper()
	p := &peer{rec: engine.SessionRecord{ID: id, Token: id + ".token"}}
	p.log = e.Create(p.rec)
	if room, err := e.Adopt(p.rec, p); err != nil || room != "" {
		t.Fatalf("Adopt(new session %s): room %q, %v", id, room, err)
	}
	return p
}

// frames reads what p's log holds, as strings.
func (p *peer) frames(t *testing.T) []string {
	t.Helper()
	evs, err := p.log.Read(0, nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = string(ev.Frame)
		// A joined frame's peers come in the engine's order: sorted here.
		var j struct {
			Type  string          `json:"type"`
			Peers []wire.PeerInfo `json:"peers"`
		}
		if json.Unmarshal(ev.Frame, &j) == nil && j.Type == "joined" {
			ids := make([]string, len(j.Peers))
			for k, pi := range j.Peers {
				ids[k] = pi.ID
			}
			slices.Sort(ids)
			out[i] = "joined:" + strings.Join(ids, ",")
		}
	}
	return out
}

func (p *peer) join(t *testing.T, e engine.Engine, room string, limit int) error {
	t.Helper()
	// Built like the node's: the Redis engine fills the peer list in.
	joined := func(peers []wire.PeerInfo) []byte {
		return wire.Encode(wire.Joined{Type: "joined", Room: room, Peers: peers})
	}
	return e.Join(room, wire.PeerInfo{ID: p.rec.ID}, p, limit, joined, wire.Encode(map[string]string{"type": "peer-joined", "id": p.rec.ID}))
}

// testRooms: joined before anything else, announcements in order, the
// room's limit, addressed and broadcast sends, leave.
func testRooms(t *testing.T, e engine.Engine) {
	a, b, c := newPeer(t, e, "a"), newPeer(t, e, "b"), newPeer(t, e, "c")
	if err := a.join(t, e, "r", 2); err != nil {
		t.Fatal(err)
	}
	if err := b.join(t, e, "r", 2); err != nil {
		t.Fatal(err)
	}
	if err := c.join(t, e, "r", 2); !errors.Is(err, engine.ErrRoomFull) {
		t.Fatalf("third join into a room of 2: %v", err)
	}
	if got := c.frames(t); len(got) != 0 {
		t.Fatalf("a refused join queued %q", got)
	}
	if got := e.Rooms(); got != 1 {
		t.Fatalf("Rooms() = %d, want 1", got)
	}
	want := func(p *peer, frames ...string) {
		t.Helper()
		if got := p.frames(t); !slices.Equal(got, frames) {
			t.Fatalf("%s's log: %q, want %q", p.rec.ID, got, frames)
		}
	}
	want(a, "joined:", `{"id":"b","type":"peer-joined"}`)
	want(b, "joined:a")

	if err := e.Send("r", "a", "b", []byte(`{"to":"b"}`), 0); err != nil {
		t.Fatal(err)
	}
	if err := e.Send("r", "b", "", []byte(`{"all":1}`), 0); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"a", "c", "nobody"} { // oneself, a stranger, nobody
		if err := e.Send("r", "a", to, []byte(`{}`), 0); !errors.Is(err, engine.ErrUnknownPeer) {
			t.Fatalf("Send to %q: %v", to, err)
		}
	}
	want(a, "joined:", `{"id":"b","type":"peer-joined"}`, `{"all":1}`)
	want(b, "joined:a", `{"to":"b"}`)

	e.Leave("r", "a", []byte(`{"left":"a"}`))
	e.Leave("r", "a", []byte(`{"again":1}`)) // unknown now: ignored
	want(b, "joined:a", `{"to":"b"}`, `{"left":"a"}`)
	if err := c.join(t, e, "r", 2); err != nil {
		t.Fatalf("join after a leave: %v", err)
	}
	e.Leave("r", "b", []byte(`{}`))
	e.Leave("r", "c", []byte(`{}`))
	if got := e.Rooms(); got != 0 {
		t.Fatalf("Rooms() after everyone left = %d", got)
	}

	// A room keeps the cap it was given: joins with a larger one, or
	// none (0: the engine's maximum), count against it.
	x, y, z := newPeer(t, e, "x"), newPeer(t, e, "y"), newPeer(t, e, "z")
	if err := x.join(t, e, "capped", 2); err != nil {
		t.Fatal(err)
	}
	if err := y.join(t, e, "capped", 0); err != nil {
		t.Fatal(err)
	}
	if err := z.join(t, e, "capped", 0); !errors.Is(err, engine.ErrRoomFull) {
		t.Fatalf("a third join, without a cap, into a room capped at 2: %v", err)
	}
	e.Leave("capped", "x", []byte(`{}`))
	if err := z.join(t, e, "capped", 0); err != nil {
		t.Fatalf("once the capped member left: %v", err)
	}
	e.Leave("capped", "y", []byte(`{}`))
	e.Leave("capped", "z", []byte(`{}`))
}

// testRelayOnce: a numbered frame is relayed once. A Send whose cseq is
// not above the sender's last frame handled relays nothing and succeeds;
// unnumbered frames go every time; a Send refused records nothing.
func testRelayOnce(t *testing.T, e engine.Engine) {
	a, b := newPeer(t, e, "a"), newPeer(t, e, "b")
	for _, p := range []*peer{a, b} {
		if err := p.join(t, e, "r", 0); err != nil {
			t.Fatal(err)
		}
	}
	a.log.Apply(2) // a frame of a's that was not relayed: its join, say
	send := func(to, frame string, cseq uint64) error {
		t.Helper()
		err := e.Send("r", "a", to, []byte(frame), cseq)
		if err == nil && cseq != 0 {
			a.log.Relayed(cseq) // as the node does
		}
		return err
	}
	for _, step := range []struct {
		to, frame string
		cseq      uint64
		err       error
	}{
		{"b", `{"n":3}`, 3, nil},
		{"b", `{"n":"3 again"}`, 3, nil},
		{"", `{"n":"2 again"}`, 2, nil},
		{"b", `{"n":"unnumbered"}`, 0, nil},
		{"b", `{"n":"unnumbered"}`, 0, nil},
		{"nobody", `{"n":4}`, 4, engine.ErrUnknownPeer},
		{"", `{"n":"4 to all"}`, 4, nil},
	} {
		if err := send(step.to, step.frame, step.cseq); !errors.Is(err, step.err) {
			t.Fatalf("Send(%s, cseq %d): %v, want %v", step.frame, step.cseq, err, step.err)
		}
	}
	if got, want := b.frames(t), []string{"joined:a", `{"n":3}`, `{"n":"unnumbered"}`, `{"n":"unnumbered"}`, `{"n":"4 to all"}`}; !slices.Equal(got, want) {
		t.Fatalf("b's log: %q, want %q", got, want)
	}
	if got := a.log.Applied(); got != 4 {
		t.Fatalf("a's log applied %d, want 4", got)
	}
	e.Leave("r", "a", []byte(`{}`))
	e.Leave("r", "b", []byte(`{}`))
}

// testAdopt: a live session is adopted with its room; a gone one is not.
func testAdopt(t *testing.T, e engine.Engine) {
	a := newPeer(t, e, "a")
	if err := a.join(t, e, "r", 0); err != nil {
		t.Fatal(err)
	}
	e.Drop(a.rec)
	if _, err := e.Adopt(a.rec, a); !errors.Is(err, engine.ErrReplayGap) {
		t.Fatalf("Adopt of a dropped session: %v", err)
	}
	if _, err := e.Adopt(engine.SessionRecord{ID: "x", Token: "x.tx"}, a); !errors.Is(err, engine.ErrReplayGap) {
		t.Fatalf("Adopt of an unknown session: %v", err)
	}
	e.Leave("r", "a", []byte(`{}`))
	if err := e.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

// testHeld: the engine's Held is the sum of its logs', and a dropped
// log leaves it.
func testHeld(t *testing.T, e engine.Engine) {
	a, b := newPeer(t, e, "a"), newPeer(t, e, "b")
	for range 3 {
		a.Deliver([]byte(`{"x":1}`))
		b.Deliver([]byte(`{"y":22}`))
	}
	if got, sum := e.Held(), int64(a.log.Held()+b.log.Held()); got != sum {
		t.Fatalf("Held() = %d, the logs hold %d", got, sum)
	}
	e.Drop(a.rec)
	if got := e.Held(); got != int64(b.log.Held()) {
		t.Fatalf("Held() after a drop = %d, b holds %d", got, b.log.Held())
	}
	e.Drop(b.rec)
	if got := e.Held(); got != 0 {
		t.Fatalf("Held() after every drop = %d", got)
	}
}
