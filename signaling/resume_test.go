package signaling

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TestSeqNumbers: every event carries seq, from 1 (welcome) up by one.
func TestSeqNumbers(t *testing.T) {
	_, url := startServer(t, Config{})
	a, b := dial(t, url, nil), dial(t, url, nil)
	if seqOf(a.welcome) != 1 {
		t.Fatalf("welcome %v: want seq 1", a.welcome)
	}
	want := 2
	check := func(f frame) {
		t.Helper()
		if seqOf(f) != want {
			t.Fatalf("%v: want seq %d", f, want)
		}
		want++
	}
	check(a.join("r"))
	b.join("r")
	check(a.expect("peer-joined"))
	b.send(frame{"type": "message", "to": a.id, "data": "x"})
	check(a.expect("message"))
	a.send(frame{"type": "ping", "id": 1})
	check(a.expect("pong"))
	a.send(frame{"type": "bogus"})
	check(a.expect("error"))
}

// TestResumeWebSocket cuts a peer's socket mid-negotiation, sends it offers
// and candidates while it is away, and resumes: each arrives exactly once,
// in order, and its peer never hears peer-left.
func TestResumeWebSocket(t *testing.T) {
	_, url := startServer(t, Config{})
	alice, bob := dial(t, url, nil), dial(t, url, nil)
	alice.join("r")
	bob.join("r")
	alice.expect("peer-joined")
	alice.send(frame{"type": "offer", "to": bob.id, "sdp": "v=0 first"})
	last := seqOf(bob.expect("offer"))

	bob.ws.Close() // a network drop: no close frame
	for i := 0; i < 20; i++ {
		alice.send(frame{"type": "candidate", "to": bob.id, "candidate": frame{"candidate": "c" + strconv.Itoa(i)}})
	}
	alice.alive() // all 20 went through, so they are in bob's buffer

	token := bob.welcome.str("token")
	bob2 := dialRaw(t, fmt.Sprintf("%s?token=%s&after=%d", url, token, last))
	r := bob2.expect("resumed")
	if r.str("session") != bob.id || int(r["after"].(float64)) != last || int(r["last"].(float64)) != last+20 {
		t.Fatalf("resumed %v", r)
	}
	if _, has := r["seq"]; has {
		t.Fatalf("resumed notice carries a seq: %v", r)
	}
	for i := 0; i < 20; i++ {
		f := bob2.expect("candidate")
		if seqOf(f) != last+1+i || f["candidate"].(map[string]any)["candidate"] != "c"+strconv.Itoa(i) {
			t.Fatalf("replayed %d: %v", i, f)
		}
	}
	// Live events follow, and the session still works both ways.
	alice.send(frame{"type": "message", "to": bob.id, "data": "live"})
	if f := bob2.expect("message"); seqOf(f) != last+21 {
		t.Fatalf("live event %v", f)
	}
	bob2.id = bob.id
	bob2.send(frame{"type": "answer", "to": alice.id, "sdp": "v=0 answer"})
	alice.expect("answer") // not peer-left: alice never noticed
	bob2.alive()
}

// dialRaw dials without reading a welcome: for resumes.
func dialRaw(t *testing.T, url string) *client {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v (response %+v)", err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	return &client{t: t, ws: ws}
}

// TestResumeAcrossChannels moves one session ws → sse → poll → ws while its
// peer keeps sending, and checks that every event arrives exactly once and
// in order.
func TestResumeAcrossChannels(t *testing.T) {
	_, url := startServer(t, Config{})
	base := httpBase(url)
	alice, bob := dial(t, url, nil), dial(t, url, nil)
	token := bob.welcome.str("token")
	alice.join("r")
	bob.join("r")
	alice.expect("peer-joined")

	next := 0 // the message number bob expects next
	got := func(f frame) {
		t.Helper()
		if f.str("type") != "message" || f["data"] != float64(next) {
			t.Fatalf("want message %d, got %v", next, f)
		}
		next++
	}
	send := func(n int) {
		for i := 0; i < n; i++ {
			alice.send(frame{"type": "message", "to": bob.id, "data": next + i})
		}
		alice.alive()
	}
	send(3)
	seq := 0 // the last seq bob processed
	for range 3 {
		f := bob.read()
		got(f)
		seq = seqOf(f)
	}
	bob.ws.Close()
	send(5) // while detached

	// SSE picks up after the last seq bob processed.
	sse := openSSE(t, base, fmt.Sprintf("token=%s&after=%d", token, seq), "")
	if r := sse.expect("resumed"); r.str("session") != bob.id {
		t.Fatalf("resumed %v", r)
	}
	for range 5 {
		f := sse.next().data
		got(f)
		seq = seqOf(f)
	}
	send(2)
	for range 2 {
		f := sse.next().data
		got(f)
		seq = seqOf(f)
	}
	// Bob sends upstream by POST while on SSE.
	postOK(t, base, token, frame{"type": "message", "to": alice.id, "data": "via post"})
	if f := alice.expect("message"); f["data"] != "via post" || f.str("from") != bob.id {
		t.Fatalf("alice got %v", f)
	}

	// Polling takes over mid-stream: bob has processed two of four events
	// on SSE, the poll hands him the other two, and the SSE stream is
	// closed as replaced (after, possibly, the same two, which a client
	// drops by seq).
	send(4)
	for range 2 {
		f := sse.next().data
		got(f)
		seq = seqOf(f)
	}
	switchedAt := seq
	status, evs := poll(t, base, fmt.Sprintf("token=%s&after=%d", token, seq))
	if status != http.StatusOK || len(evs) != 2 {
		t.Fatalf("poll: %d %v", status, evs)
	}
	for _, f := range evs {
		got(f)
		seq = seqOf(f)
	}
	for {
		ev := sse.next()
		if ev.data.str("type") == "message" && seqOf(ev.data) > switchedAt && seqOf(ev.data) <= seq {
			continue
		}
		if ev.data.str("code") != wire.CodeReplaced || ev.id != "" {
			t.Fatalf("sse after takeover: %s", ev.raw)
		}
		break
	}
	sse.expectEnd()

	// A poll with nothing waiting is held until an event comes.
	held := make(chan []frame, 1)
	go func() {
		_, evs := poll(t, base, fmt.Sprintf("token=%s&after=%d", token, seq))
		held <- evs
	}()
	send(1) // may land before or during the poll: either way it answers it
	evs = <-held
	if len(evs) != 1 {
		t.Fatalf("held poll: %v", evs)
	}
	got(evs[0])
	seq = seqOf(evs[0])

	// And back to WebSocket.
	send(1)
	ws := dialRaw(t, fmt.Sprintf("%s?token=%s&after=%d", url, token, seq))
	ws.expect("resumed")
	got(ws.read())
	ws.alive()
	alice.alive() // no peer-left ahead of the pong
}

// TestTakeoverClosesOlderChannel: a second channel for a session closes
// the first with 4001 replaced.
func TestTakeoverClosesOlderChannel(t *testing.T) {
	_, url := startServer(t, Config{})
	a := dial(t, url, nil)
	b := dialRaw(t, fmt.Sprintf("%s?token=%s&after=1", url, a.welcome.str("token")))
	b.expect("resumed")
	if ce := a.expectClose(); ce.Code != wire.CloseReplaced || ce.Text != wire.CodeReplaced {
		t.Fatalf("older channel closed with %d %q, want 4001 replaced", ce.Code, ce.Text)
	}
	b.alive()
}

// TestResumeFailures: each way a resume can fail answers resume_failed,
// then a new session's welcome; where an old session existed, its peers
// get peer-left.
func TestResumeFailures(t *testing.T) {
	expectFailed := func(t *testing.T, c *client) {
		t.Helper()
		if f := c.expect("error"); f.str("code") != wire.CodeResumeFailed {
			t.Fatalf("got %v, want resume_failed", f)
		}
		if w := c.expect("welcome"); seqOf(w) != 1 {
			t.Fatalf("welcome %v", w)
		}
	}
	t.Run("grace period over", func(t *testing.T) {
		_, url := startServer(t, Config{ResumeGrace: 50 * time.Millisecond})
		alice, bob := dial(t, url, nil), dial(t, url, nil)
		alice.join("r")
		bob.join("r")
		alice.expect("peer-joined")
		bob.ws.Close()
		if f := alice.expect("peer-left"); f["peer"].(map[string]any)["id"] != bob.id {
			t.Fatalf("got %v", f)
		}
		expectFailed(t, dialRaw(t, url+"?token="+bob.welcome.str("token")+"&after=3"))
	})
	t.Run("buffer overflow while detached", func(t *testing.T) {
		srv, url := startServer(t, Config{ReplayEvents: 16})
		alice, bob := dial(t, url, nil), dial(t, url, nil)
		alice.join("r")
		bob.join("r")
		alice.expect("peer-joined")
		bob.ws.Close()
		waitDetached(t, srv, bob.welcome.str("token"))
		// Bob's buffer holds what he was sent but never acknowledged, so
		// at most 16 more events fit; then his session ends.
		for i := 0; i < 17; i++ {
			alice.send(frame{"type": "message", "to": bob.id, "data": i})
		}
		for {
			f := alice.read()
			if f.str("type") == "peer-left" {
				break
			}
			if f.str("type") != "error" || f.str("code") != wire.CodeUnknownPeer {
				t.Fatalf("got %v", f)
			}
		}
		expectFailed(t, dialRaw(t, url+"?token="+bob.welcome.str("token")+"&after=3"))
	})
	t.Run("events no longer kept", func(t *testing.T) {
		_, url := startServer(t, Config{})
		alice, bob := dial(t, url, nil), dial(t, url, nil)
		alice.join("r")
		bob.join("r")
		alice.expect("peer-joined")
		// after beyond anything sent: the client claims what never was.
		expectFailed(t, dialRaw(t, url+"?token="+bob.welcome.str("token")+"&after=99"))
		if f := alice.expect("peer-left"); f["peer"].(map[string]any)["id"] != bob.id {
			t.Fatalf("got %v", f)
		}
	})
	for name, token := range map[string]func(c *client) string{
		"made-up token":     func(*client) string { return strings.Repeat("A", 52) },
		"session id alone":  func(c *client) string { return c.id },
		"token with suffix": func(c *client) string { return c.welcome.str("token") + "x" },
	} {
		t.Run(name, func(t *testing.T) {
			_, url := startServer(t, Config{})
			owner := dial(t, url, nil)
			owner.join("r")
			stranger := dialRaw(t, url+"?token="+token(owner)+"&after=1")
			expectFailed(t, stranger)
			owner.alive() // untouched: still attached, no takeover
		})
	}
}

// TestBusySessionBufferTrimmed: a WebSocket that keeps reading has its
// replay buffer trimmed by the pongs to data-driven pings, long before
// the heartbeat, so a busy session holds about ackBytes, not ReplayBytes.
func TestBusySessionBufferTrimmed(t *testing.T) {
	srv, url := startServer(t, Config{RateLimit: 1e6, RateBurst: 1e6, ByteRate: 1 << 30, ByteBurst: 1 << 30})
	alice, bob := dial(t, url, nil), dial(t, url, nil)
	alice.join("r")
	bob.join("r")
	alice.expect("peer-joined")
	payload := strings.Repeat("x", 2048)
	const n = 200 // 400 KiB: six times ackBytes
	for i := 0; i < n; i++ {
		alice.send(frame{"type": "message", "to": bob.id, "data": payload})
	}
	for i := 0; i < n; i++ {
		bob.expect("message")
	}
	bob.alive() // reads on, so gorilla answers the pings in between
	log := srv.lookup(bob.welcome.str("token")).log
	deadline := time.Now().Add(waitFor)
	for {
		kept := logState(t, log).Bytes
		if kept <= 2*ackBytes {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("busy session still holds %d bytes of events", kept)
		}
		bob.alive() // each round trip lets a pong through
	}
}

// TestWelcomeNotKept: the welcome leaves the replay buffer once sent, and
// a resume from 0 replays everything after it.
func TestWelcomeNotKept(t *testing.T) {
	_, url := startServer(t, Config{})
	a := dial(t, url, nil)
	a.join("r")
	a.ws.Close()
	r := dialRaw(t, url+"?token="+a.welcome.str("token")+"&after=0")
	if f := r.expect("resumed"); f["after"] != float64(1) {
		t.Fatalf("resumed %v", f)
	}
	if f := r.expect("joined"); seqOf(f) != 2 {
		t.Fatalf("replayed %v", f)
	}
}

// TestQuietSessionAckedEarly: a WebSocket that went quiet with events
// unacknowledged is pinged within about a second, not at its next
// heartbeat (20 s), and the pong frees its replay buffer.
func TestQuietSessionAckedEarly(t *testing.T) {
	srv, url := startServer(t, Config{})
	a, b := dial(t, url, nil), dial(t, url, nil)
	a.join("r")
	b.join("r")
	a.expect("peer-joined")
	go func() { // reading lets the client answer the server's pings
		for {
			if _, _, err := a.ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	log := srv.lookup(a.welcome.str("token")).log
	// The pong frees the buffer with no event a client sees.
	eventually(t, waitFor, "the quiet session's events freed", func() error {
		if kept := logState(t, log).Events; kept != 0 {
			return fmt.Errorf("%d events still kept", kept)
		}
		return nil
	})
}

// TestPostAcknowledgesEvents: Last-Event-ID on a POST lets an SSE session's
// replay buffer drop what the client has processed.
func TestPostAcknowledgesEvents(t *testing.T) {
	srv, wsURL := startServer(t, Config{})
	base := httpBase(wsURL)
	sse := openSSE(t, base, "", "")
	welcome := sse.expect("welcome")
	token := welcome.str("token")
	postOK(t, base, token, frame{"type": "join", "room": "r"})
	sse.expect("joined")
	peer := dial(t, wsURL, nil)
	peer.join("r")
	sse.expect("peer-joined")
	for i := 0; i < 5; i++ {
		peer.send(frame{"type": "message", "to": welcome.str("session"), "data": i})
	}
	log := srv.lookup(token).log
	last := 0
	for i := 0; i < 5; i++ {
		last = seqOf(sse.expect("message"))
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/send", strings.NewReader("[]"))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Last-Event-ID", strconv.Itoa(last))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if kept := logState(t, log).Events; kept != 0 {
		t.Fatalf("%d events kept after the client acknowledged seq %d", kept, last)
	}
}

// TestPongAcknowledgesOnlyItsPing: with several pings out at once, a pong
// frees only what was written before the ping it answers, so a client
// that drops right after answering the first still resumes from there.
// (Found in review: a pong used to acknowledge the newest ping's position.)
func TestPongAcknowledgesOnlyItsPing(t *testing.T) {
	srv, url := startServer(t, Config{RateLimit: 1e4, RateBurst: 1e4, ByteRate: 1 << 30, ByteBurst: 1 << 30})
	a, b := dial(t, url, nil), dial(t, url, nil)
	a.join("r")
	b.join("r")
	a.expect("peer-joined")
	token := a.welcome.str("token")
	log := srv.lookup(token).log
	state := func() (first, taken, next uint64) {
		st := logState(t, log)
		return st.First, st.Taken, st.Next
	}
	waitState := func(what string, ok func(first, taken, next uint64) bool) { // the log's marks have no event
		t.Helper()
		eventually(t, waitFor, what, func() error {
			if f, tk, n := state(); !ok(f, tk, n) {
				return fmt.Errorf("first %d taken %d next %d", f, tk, n)
			}
			return nil
		})
	}
	var pings atomic.Int32
	a.ws.SetPingHandler(func(d string) error {
		pings.Add(1)
		return a.ws.WriteControl(websocket.PongMessage, []byte(d), time.Now().Add(waitFor))
	})
	big := strings.Repeat("x", 8000)
	for i := 0; i < 100; i++ { // 800 KB: about a dozen pings, every 64 KiB
		b.send(frame{"type": "message", "data": big})
	}
	waitState("all written", func(_, taken, next uint64) bool { return next >= 103 && taken == next })
	last := 0
	for pings.Load() == 0 {
		last = seqOf(a.read())
	}
	waitState("the first pong's acknowledgement", func(first, _, _ uint64) bool { return first > 2 })
	if first, _, _ := state(); int(first) > last+1 {
		t.Fatalf("the first pong freed events up to %d; the client had read up to %d", first-1, last)
	}
	a.ws.NetConn().Close() // a network drop
	waitDetached(t, srv, token)
	r := dialRaw(t, fmt.Sprintf("%s?token=%s&after=%d", url, token, last))
	if f := r.expect("resumed"); int(f["after"].(float64)) != last {
		t.Fatalf("resumed %v", f)
	}
	if f := r.expect("message"); seqOf(f) != last+1 {
		t.Fatalf("first replayed %v, want seq %d", f["seq"], last+1)
	}
}

// logState reads a memory log's marks.
func logState(t testing.TB, log engine.EventLog) engine.LogState {
	t.Helper()
	st, ok := engine.MemoryLogState(log)
	if !ok {
		t.Fatalf("%T is not a memory log", log)
	}
	return st
}
