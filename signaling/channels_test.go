package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

func TestSSEStream(t *testing.T) {
	_, wsURL := startServer(t, Config{PingInterval: 64 * time.Millisecond, SSEMaxAge: time.Second})
	base := httpBase(wsURL)
	resp, err := http.Get(base + "/v1/sse")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}

	sse := openSSE(t, base, "", "")
	w := sse.expect("welcome")
	if seqOf(w) != 1 {
		t.Fatalf("welcome %v", w)
	}
	token, id := w.str("token"), w.str("session")
	postOK(t, base, token, frame{"type": "join", "room": "r", "id": 1})
	if j := sse.expect("joined"); j["re"] != float64(1) || seqOf(j) != 2 {
		t.Fatalf("joined %v", j)
	}
	// A peer on WebSocket sends a message whose data has raw line breaks
	// between JSON tokens: it still arrives as one event.
	peer := dial(t, wsURL, nil)
	peer.join("r")
	sse.expect("peer-joined")
	peer.sendRaw(`{"type":"message","to":"` + id + `","data":[1,` + "\r\n" + `2,` + "\r" + `3]}`)
	if m := sse.expect("message"); fmt.Sprint(m["data"]) != "[1 2 3]" {
		t.Fatalf("message %v", m)
	}
	// The stream ends at its maximum age; Last-Event-ID resumes it and
	// wins over a stale after.
	sse.expectEnd()
	sse2 := openSSE(t, base, "token="+token+"&after=1", "4")
	if r := sse2.expect("resumed"); r["after"] != float64(4) {
		t.Fatalf("resumed %v", r)
	}
	peer.send(frame{"type": "message", "to": id, "data": "after resume"})
	if m := sse2.expect("message"); seqOf(m) != 5 {
		t.Fatalf("message %v", m)
	}
	peer.alive() // no peer-left in between
}

func TestSSEHeartbeat(t *testing.T) {
	_, wsURL := startServer(t, Config{PingInterval: 64 * time.Millisecond})
	resp, err := http.Get(httpBase(wsURL) + "/v1/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 0, 4096)
	deadline := time.Now().Add(waitFor)
	for !bytes.Contains(buf, []byte("\n: hb\n\n")) {
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat comment in %q", buf)
		}
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		if err != nil {
			t.Fatal(err)
		}
		buf = buf[:len(buf)+n]
	}
	if !bytes.HasPrefix(buf, []byte("retry: 1000\n\nid: 1\ndata: {\"type\":\"welcome\"")) {
		t.Fatalf("stream starts %q", buf)
	}
}

// TestSSEThroughReverseProxy: each event reaches a client behind
// net/http/httputil's ReverseProxy at once, not when a buffer fills.
func TestSSEThroughReverseProxy(t *testing.T) {
	_, wsURL := startServer(t, Config{})
	target, _ := url.Parse(httpBase(wsURL))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := &http.Server{Handler: httputil.NewSingleHostReverseProxy(target)}
	go func() { _ = proxy.Serve(ln) }()
	t.Cleanup(func() { proxy.Close() })

	sse := openSSE(t, "http://"+ln.Addr().String(), "", "")
	w := sse.expect("welcome")
	postOK(t, "http://"+ln.Addr().String(), w.str("token"), frame{"type": "join", "room": "r"})
	sse.expect("joined")
	peer := dial(t, wsURL, nil)
	peer.join("r")
	sse.expect("peer-joined")
	for i := range 5 {
		start := time.Now()
		peer.send(frame{"type": "message", "to": w.str("session"), "data": i})
		sse.expect("message")
		if d := time.Since(start); d > time.Second {
			t.Fatalf("event %d took %v through the proxy", i, d)
		}
	}
}

func TestPoll(t *testing.T) {
	_, wsURL := startServer(t, Config{PollWait: 100 * time.Millisecond})
	base := httpBase(wsURL)
	status, evs := poll(t, base, "")
	if status != http.StatusOK || len(evs) != 1 || evs[0].str("type") != "welcome" {
		t.Fatalf("first poll: %d %v", status, evs)
	}
	token := evs[0].str("token")
	// Nothing waiting: held for PollWait, then [].
	start := time.Now()
	if status, evs := poll(t, base, "token="+token+"&after=1"); status != http.StatusOK || len(evs) != 0 {
		t.Fatalf("empty poll: %d %v", status, evs)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("empty poll answered after %v, before PollWait", d)
	}
}

// TestPollReplaced: a newer poll for a session answers the waiting one
// 409 replaced.
func TestPollReplaced(t *testing.T) {
	srv, wsURL := startServer(t, Config{PollWait: time.Minute})
	base := httpBase(wsURL)
	_, evs := poll(t, base, "")
	token := evs[0].str("token")
	older := make(chan []frame, 1)
	go func() {
		status, evs := poll(t, base, "token="+token+"&after=1")
		if status != http.StatusConflict {
			evs = append(evs, frame{"status": status})
		}
		older <- evs
	}()
	waitAttached(t, srv, token)
	newer := make(chan []frame, 1)
	go func() { _, evs := poll(t, base, "token="+token+"&after=1"); newer <- evs }()
	if evs := <-older; len(evs) != 1 || evs[0].str("code") != wire.CodeReplaced {
		t.Fatalf("older poll: %v", evs)
	}
	postOK(t, base, token, frame{"type": "ping"})
	if evs := <-newer; len(evs) != 1 || evs[0].str("type") != "pong" {
		t.Fatalf("newer poll: %v", evs)
	}
}

// waitDetached waits until the server has noticed that token's session
// lost its channel; like waitAttached, it polls (eventually).
func waitDetached(t *testing.T, srv *Server, token string) {
	t.Helper()
	eventually(t, waitFor, "the channel detached", func() error {
		if s := srv.lookup(token); s == nil || s.attached() != nil {
			return errors.New("no session, or still attached")
		}
		return nil
	})
}

// waitAttached waits until token's session has a channel. Attaching has
// no event a test can wait on, so this polls (eventually).
func waitAttached(t *testing.T, srv *Server, token string) {
	t.Helper()
	eventually(t, waitFor, "a channel attached", func() error {
		if s := srv.lookup(token); s == nil || s.attached() == nil {
			return errors.New("no session, or no channel")
		}
		return nil
	})
}

func TestSend(t *testing.T) {
	_, wsURL := startServer(t, Config{RateLimit: 0.001, RateBurst: 6, MaxMessageSize: 4096})
	base := httpBase(wsURL)
	_, evs := poll(t, base, "")
	token := evs[0].str("token")
	cases := []struct {
		name, token, body string
		status            int
		want              string // the answer, or the error code
	}{
		{"no token", "", `{"type":"ping"}`, 401, wire.CodeUnauthorized},
		{"unknown token", "nope", `{"type":"ping"}`, 401, wire.CodeUnauthorized},
		{"too large", token, `{"type":"message","data":"` + strings.Repeat("x", 4096) + `"}`, 413, wire.CodeTooLarge},
		{"not JSON", token, `hello`, 400, wire.CodeBadJSON},
		{"array of junk", token, `[1,`, 400, wire.CodeBadJSON},
		{"one message", token, ` {"type":"ping","id":1} `, 200, `[null]`},
		{"array", token, `[{"type":"join","room":"r"},{"type":"leave","id":2},{"type":"leave","id":"x"},{"type":"offer"},7]`, 200,
			`[null,null,{"type":"error","code":"not_in_room","message":"not in a room","re":"x"},` +
				`{"type":"error","code":"missing_field","message":"offer needs to"},` +
				`{"type":"error","code":"bad_json","message":"frame is not a valid request object: json: cannot unmarshal number into Go value of type wire.Request"}]`},
		// 6 tokens: ping, join, leave, leave, offer, 7 used them all.
		{"rate limited", token, `{"type":"ping","id":9}`, 200,
			`[{"type":"error","code":"rate_limited","message":"more than 0.001 frames/s (burst 6); frames dropped unread"}]`},
	}
	for _, tc := range cases {
		status, ans := post(t, base, tc.token, tc.body)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, status, tc.status, ans)
			continue
		}
		if status == 200 {
			if got := strings.TrimSpace(string(ans)); got != tc.want {
				t.Errorf("%s: answer\n %s\nwant\n %s", tc.name, got, tc.want)
			}
			continue
		}
		var e wire.ErrorFrame
		if json.Unmarshal(ans, &e) != nil || e.Code != tc.want || e.Message == "" {
			t.Errorf("%s: body %s, want code %s", tc.name, ans, tc.want)
		}
	}
	// Replies to posted requests are events downstream, with seq.
	_, evs = poll(t, base, "token="+token+"&after=1")
	var types []string
	for _, f := range evs {
		types = append(types, f.str("type"))
	}
	if strings.Join(types, ",") != "pong,joined,left" {
		t.Fatalf("downstream %v", evs)
	}
}

func TestBadResumeParameters(t *testing.T) {
	_, wsURL := startServer(t, Config{})
	base := httpBase(wsURL)
	for _, path := range []string{"/v1/ws?after=-1", "/v1/sse?after=1e3", "/v1/poll?after=x", "/v1/poll?after=99999999999999999"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		var e wire.ErrorFrame
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || e.Code != wire.CodeBadRequest {
			t.Errorf("%s: %d %+v", path, resp.StatusCode, e)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/sse", nil)
	req.Header.Set("Last-Event-ID", "5x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("Last-Event-ID 5x: %d", resp.StatusCode)
	}
}

func TestOriginOnEveryChannel(t *testing.T) {
	_, wsURL := startServer(t, Config{})
	base := httpBase(wsURL)
	for _, m := range []struct{ method, path string }{{"GET", "/v1/sse"}, {"GET", "/v1/poll"}, {"POST", "/v1/send"}, {"GET", "/v1/ws"}} {
		req, _ := http.NewRequest(m.method, base+m.path, strings.NewReader(`{"type":"ping"}`))
		req.Header.Set("Origin", "https://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s from a foreign origin: %d", m.method, m.path, resp.StatusCode)
		}
	}
}

// TestByeEndsAtOnce: bye, on any channel, ends the session without the
// grace period.
func TestByeEndsAtOnce(t *testing.T) {
	_, wsURL := startServer(t, Config{})
	base := httpBase(wsURL)
	alice := dial(t, wsURL, nil)
	alice.join("r")
	sse := openSSE(t, base, "", "")
	token := sse.expect("welcome").str("token")
	postOK(t, base, token, frame{"type": "join", "room": "r"}, frame{"type": "bye"})
	alice.expect("peer-joined")
	alice.expect("peer-left")
	sse.expect("joined")
	if f := sse.expect("error"); f.str("code") != wire.CodeBye {
		t.Fatalf("got %v", f)
	}
	sse.expectEnd()
	if status, _ := post(t, base, token, `{"type":"ping"}`); status != http.StatusUnauthorized {
		t.Fatalf("token after bye: %d", status)
	}
	alice.send(frame{"type": "bye"})
	if ce := alice.expectClose(); ce.Code != websocket.CloseNormalClosure {
		t.Fatalf("close %d", ce.Code)
	}
}

func TestWSMaxAge(t *testing.T) {
	_, wsURL := startServer(t, Config{WSMaxAge: time.Millisecond, PingInterval: 64 * time.Millisecond})
	c := dial(t, wsURL, nil)
	if ce := c.expectClose(); ce.Code != wire.CloseResume || ce.Text != wire.CodeResume {
		t.Fatalf("close %d %q, want 4000 resume", ce.Code, ce.Text)
	}
	r := dialRaw(t, wsURL+"?token="+c.welcome.str("token")+"&after=1")
	r.expect("resumed")
}

// TestTokensNeverLogged: a token in a query string appears in no log line,
// at any level, whatever happens to the request.
func TestTokensNeverLogged(t *testing.T) {
	var logs lockedLog
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, wsURL := startServer(t, Config{Logger: logger, ResumeGrace: time.Millisecond, PollWait: 10 * time.Millisecond})
	base := httpBase(wsURL)
	c := dial(t, wsURL, nil)
	token := c.welcome.str("token")
	c.ws.Close()
	for _, q := range []string{"token=" + token + "&after=1", "token=" + token + "&after=x", "token=" + token} {
		poll(t, base, q)
		resp, err := http.Get(base + "/v1/sse?" + q)
		if err == nil {
			resp.Body.Close()
		}
	}
	_ = srv
	if strings.Contains(logs.String(), token) {
		t.Fatalf("token in logs:\n%s", logs.String())
	}
}
