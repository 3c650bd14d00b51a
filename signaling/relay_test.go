package signaling

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// testICE is an ICE provider whose TURN credentials name the session
// they were issued to.
func testICE(ttl time.Duration) ICEProvider {
	return ICEProvider{
		STUN: []wire.ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}},
		TURN: func(id string) ([]wire.ICEServer, time.Duration) {
			return []wire.ICEServer{{URLs: []string{"turn:127.0.0.1:3478"}, Username: "u:" + id, Credential: "c"}}, ttl
		},
	}
}

func TestWelcome(t *testing.T) {
	_, url := startServer(t, Config{ICEServers: testICE(time.Hour), PingInterval: 15 * time.Second})
	a, b := dial(t, url, nil), dial(t, url, nil)
	if len(a.id) < 22 || a.id == b.id {
		t.Fatalf("session ids %q and %q: want distinct ids of at least 128 bits", a.id, b.id)
	}
	if tok := a.welcome.str("token"); len(tok) < 43 || tok == b.welcome.str("token") {
		t.Fatalf("token %q: want a distinct secret of at least 256 bits", tok)
	}
	if a.welcome["heartbeat"] != float64(15) || a.welcome["ttl"] != float64(0) {
		t.Fatalf("heartbeat %v ttl %v, want 15 and 0 (no credential in welcome)", a.welcome["heartbeat"], a.welcome["ttl"])
	}
	servers := a.welcome["iceServers"].([]any)
	if len(servers) != 1 || fmt.Sprint(servers[0].(map[string]any)["urls"]) != "[stun:127.0.0.1:3478]" {
		t.Fatalf("welcome's iceServers %v, want the STUN server only", servers)
	}
}

// TestTURNCredentialsOnlyInRoom: TURN credentials are minted for a
// session once it is in a room (issue 18: 4 sessions that joined
// nothing took 199 of 200 relay ports). welcome carries none, joined
// carries the session's, and GET /v1/ice-servers refuses a session
// outside a room with not_in_room, before its join and after its leave.
func TestTURNCredentialsOnlyInRoom(t *testing.T) {
	_, url := startServer(t, Config{ICEServers: testICE(90 * time.Second)})
	c := dial(t, url, nil)
	if s := fmt.Sprint(c.welcome["iceServers"]); strings.Contains(s, "credential") || strings.Contains(s, "turn:") {
		t.Fatalf("welcome hands out TURN before any room: %s", s)
	}
	get := func() (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, iceEndpoint(url), nil)
		req.Header.Set("Authorization", "Bearer "+c.welcome.str("token"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	refused := func(when string) {
		t.Helper()
		resp, body := get()
		var e wire.ErrorFrame
		if resp.StatusCode != http.StatusForbidden || json.Unmarshal(body, &e) != nil || e.Code != wire.CodeNotInRoom ||
			!strings.Contains(e.Message, "join") || strings.Contains(string(body), "credential\"") {
			t.Fatalf("%s: GET /v1/ice-servers answered %d %s, want 403 not_in_room", when, resp.StatusCode, body)
		}
	}
	refused("before joining")

	j := c.join("room-1")
	servers, _ := j["iceServers"].([]any)
	if len(servers) != 2 || servers[1].(map[string]any)["username"] != "u:"+c.id || servers[1].(map[string]any)["credential"] != "c" ||
		j["ttl"] != float64(90) {
		t.Fatalf("joined %v, want STUN and TURN with the session's credentials, ttl 90", j)
	}
	resp, body := get()
	var got wire.ICEServersResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil || got.TTL != 90 ||
		len(got.ICEServers) != 2 || got.ICEServers[1].Username != "u:"+c.id {
		t.Fatalf("in a room: GET /v1/ice-servers %d %s", resp.StatusCode, body)
	}

	c.send(frame{"type": "leave"})
	c.expect("left")
	refused("after leaving")
}

func iceEndpoint(wsURL string) string {
	return "http" + strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws"), "/ws") + "/ice-servers"
}

func TestRelay(t *testing.T) {
	_, url := startServer(t, Config{})
	alice, bob, carol := dial(t, url, nil), dial(t, url, nil), dial(t, url, nil)
	other := dial(t, url, nil)
	other.join("elsewhere")

	if j := alice.join("room-1"); len(j["peers"].([]any)) != 0 || j.str("room") != "room-1" {
		t.Fatalf("first joined: %v", j)
	}
	bob.send(frame{"type": "join", "room": "room-1", "name": "Bob", "id": 7})
	j := bob.expect("joined")
	if j["re"] != float64(7) {
		t.Fatalf("joined %v does not echo id", j)
	}
	if peers := j["peers"].([]any); len(peers) != 1 || peers[0].(map[string]any)["id"] != alice.id {
		t.Fatalf("bob's peers: %v", peers)
	}
	pj := alice.expect("peer-joined")["peer"].(map[string]any)
	if pj["id"] != bob.id || pj["name"] != "Bob" {
		t.Fatalf("peer-joined: %v", pj)
	}
	carol.join("room-1")
	alice.expect("peer-joined")
	bob.expect("peer-joined")

	// Directed frames reach only their target, with from added.
	alice.send(frame{"type": "offer", "to": bob.id, "sdp": "v=0 offer"})
	if f := bob.expect("offer"); f.str("from") != alice.id || f.str("sdp") != "v=0 offer" {
		t.Fatalf("offer: %v", f)
	}
	bob.send(frame{"type": "answer", "to": alice.id, "sdp": "v=0 answer"})
	if f := alice.expect("answer"); f.str("from") != bob.id || f.str("sdp") != "v=0 answer" {
		t.Fatalf("answer: %v", f)
	}
	cand := map[string]any{"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": float64(0)}
	alice.send(frame{"type": "candidate", "to": bob.id, "candidate": cand})
	if f := bob.expect("candidate"); f.str("from") != alice.id || f["candidate"].(map[string]any)["candidate"] != cand["candidate"] {
		t.Fatalf("candidate: %v", f)
	}
	alice.sendRaw(`{"type":"candidate","to":"` + bob.id + `","candidate":null}`)
	if f := bob.expect("candidate"); f["candidate"] != nil {
		t.Fatalf("end-of-candidates: %v", f)
	} else if _, present := f["candidate"]; !present {
		t.Fatalf("end-of-candidates lost its null: %v", f)
	}

	// A message without "to" goes to the whole room but the sender.
	alice.send(frame{"type": "message", "data": map[string]any{"kind": "chat", "text": "hi"}})
	for _, c := range []*client{bob, carol} {
		f := c.expect("message")
		if f.str("from") != alice.id || f["data"].(map[string]any)["text"] != "hi" {
			t.Fatalf("broadcast: %v", f)
		}
	}
	// Everything above reached its targets, so had it leaked to alice or
	// to the other room it would be queued ahead of these pongs.
	alice.alive()
	carol.alive()
	other.alive()

	// Leave, then disconnect with a bye: both tell the rest of the room
	// that the peer left on purpose.
	carol.send(frame{"type": "leave", "id": "bye"})
	if f := carol.expect("left"); f.str("room") != "room-1" || f.str("re") != "bye" {
		t.Fatalf("left: %v", f)
	}
	for _, c := range []*client{alice, bob} {
		if f := c.expect("peer-left"); f["peer"].(map[string]any)["id"] != carol.id || f.str("reason") != wire.PeerLeftOnPurpose {
			t.Fatalf("peer-left: %v", f)
		}
	}
	carol.join("room-2") // a session may move on to another room
	bob.hangUp()
	if f := alice.expect("peer-left"); f["peer"].(map[string]any)["id"] != bob.id || f.str("reason") != wire.PeerLeftOnPurpose {
		t.Fatalf("peer-left after disconnect: %v", f)
	}
	alice.send(frame{"type": "offer", "to": bob.id, "sdp": "v=0"})
	if f := alice.expect("error"); f.str("code") != wire.CodeUnknownPeer {
		t.Fatalf("offer to departed peer: %v", f)
	}
}

func TestICEServersEndpoint(t *testing.T) {
	_, url := startServer(t, Config{ICEServers: testICE(90 * time.Second)})
	c := dial(t, url, nil)
	c.join("room-1")
	endpoint := iceEndpoint(url)

	for _, auth := range []string{"", "Bearer wrong", c.welcome.str("token")} {
		req, _ := http.NewRequest(http.MethodGet, endpoint, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body wire.ErrorFrame
		if err := decodeJSON(resp, &body); err != nil || resp.StatusCode != http.StatusUnauthorized || body.Code != wire.CodeUnauthorized {
			t.Errorf("Authorization %q: status %d body %+v, want 401 unauthorized", auth, resp.StatusCode, body)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, endpoint, nil)
	req.Header.Set("Authorization", "Bearer "+c.welcome.str("token"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got wire.ICEServersResponse
	if err := decodeJSON(resp, &got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	if got.TTL != 90 || len(got.ICEServers) != 2 || got.ICEServers[1].Username != "u:"+c.id {
		t.Fatalf("got %+v", got)
	}

	// An ended session's token no longer works.
	c.hangUp()
	// The session ends after the close, with no event a client sees.
	eventually(t, waitFor, "the closed session's token refused", func() error {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

func TestHeartbeat(t *testing.T) {
	cfg := Config{PingInterval: 50 * time.Millisecond, PongTimeout: time.Second} // slack for a loaded machine
	_, url := startServer(t, cfg)

	// A client that answers pings outlives many ping intervals.
	live := dial(t, url, nil)
	pings := make(chan struct{}, 16)
	live.ws.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return live.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	go func() { // keep reading so ping handlers run; ends when the test closes ws
		for {
			if _, _, err := live.ws.NextReader(); err != nil {
				return
			}
		}
	}()
	for i := 0; i < 5; i++ {
		select {
		case <-pings:
		case <-time.After(waitFor):
			t.Fatalf("ping %d never came", i)
		}
	}

	// A client that never answers is dropped after interval + timeout.
	start := time.Now() // before the server sets its first deadline
	dead := dial(t, url, nil)
	dead.ws.SetPingHandler(func(string) error { return nil })
	_ = dead.ws.SetReadDeadline(time.Now().Add(waitFor))
	for {
		if _, _, err := dead.ws.ReadMessage(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("server never dropped the silent client")
			}
			break
		}
	}
	if d := time.Since(start); d < cfg.PingInterval+cfg.PongTimeout {
		t.Fatalf("dropped after %v, before the pong deadline", d)
	}
	live.ws.Close()
}

func TestSlowConsumerDisconnected(t *testing.T) {
	_, url := startServer(t, Config{RateLimit: 1e6, RateBurst: 1e6, ByteRate: 1 << 30, ByteBurst: 1 << 30, MaxMessageSize: 4096, ReplayBytes: 8192})
	slow, fast := dial(t, url, nil), dial(t, url, nil)
	slow.join("r")
	fast.join("r")
	slow.expect("peer-joined")
	payload := strings.Repeat("x", 3000)
	// slow never reads: once the kernel buffers fill, the queue passes
	// 8 KiB and the server cuts slow off. The bound is generous: loopback
	// buffers hold a few MiB.
	var closed bool
	for i := 0; i < 20000 && !closed; i++ {
		fast.send(frame{"type": "message", "to": slow.id, "data": payload, "id": i})
		// Check every 10 sends: once slow is gone each send earns fast an
		// unknown_peer error, and 100 unread ones (~10 KB) would pass
		// fast's own 8 KiB bound and cut fast off too.
		if i%10 == 9 {
			fast.send(frame{"type": "ping"})
			for {
				f := fast.read()
				if f.str("type") == "pong" {
					break
				}
				if f.str("type") == "error" && f.str("code") == wire.CodeUnknownPeer {
					closed = true // slow has been removed from the room
				}
				if f.str("type") == "peer-left" {
					closed = true
				}
			}
		}
	}
	if !closed {
		t.Fatal("slow consumer was never disconnected")
	}
	if ce := slow.expectClose(); ce.Code != websocket.ClosePolicyViolation || ce.Text != wire.CodeSlowConsumer {
		t.Fatalf("slow consumer closed with %d %q", ce.Code, ce.Text)
	}
	fast.alive()
}

func TestShutdownClosesSessions(t *testing.T) {
	srv, url := startServer(t, Config{})
	a, b := dial(t, url, nil), dial(t, url, nil)
	a.join("r")
	b.join("r")
	ctx, cancel := contextWithTimeout(waitFor)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{a, b} {
		if ce := c.expectClose(); ce.Code != websocket.CloseGoingAway || ce.Text != wire.CodeShutdown {
			t.Fatalf("closed with %d %q, want 1001 shutdown", ce.Code, ce.Text)
		}
	}
	// Late arrivals are turned away before any upgrade: 503 shutdown.
	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("late dial: %v %+v", err, resp)
	}
	var body wire.ErrorFrame
	if err := decodeJSON(resp, &body); err != nil || body.Code != wire.CodeShutdown {
		t.Fatalf("late dial body %+v (%v)", body, err)
	}
}

// TestConcurrentJoinsAnnounceEachPeerOnce: however joins interleave, each
// member learns of every other exactly once — in its joined list or by a
// later peer-joined — and hears nothing before its own joined.
func TestConcurrentJoinsAnnounceEachPeerOnce(t *testing.T) {
	const n = 12
	_, url := startServer(t, Config{RoomJoinBurst: n}) // all at once, past the default burst
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, url, nil)
	}
	for _, c := range clients {
		go func() { _ = c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"join","room":"crowd"}`)) }()
	}
	for _, c := range clients {
		seen := map[string]int{}
		first := c.read()
		if first.str("type") != "joined" {
			t.Fatalf("first frame %v, want joined", first)
		}
		for _, p := range first["peers"].([]any) {
			seen[p.(map[string]any)["id"].(string)]++
		}
		for len(seen) < n-1 {
			f := c.expect("peer-joined")
			seen[f["peer"].(map[string]any)["id"].(string)]++
		}
		for id, count := range seen {
			if count != 1 || id == c.id {
				t.Fatalf("client %s learned of %s %d times", c.id, id, count)
			}
		}
	}
}
