package signaling

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TestLongIDRefused: an id comes back in the reply, so a long one would
// let a session fill its own replay buffer with pongs without joining a
// room (60 KB ids made 1 MiB in 17 pings). Past maxIDLen it is refused
// and not echoed.
func TestLongIDRefused(t *testing.T) {
	_, url := startServer(t, Config{})
	c := dial(t, url, nil)
	longest := `"` + strings.Repeat("i", wire.MaxIDLen-2) + `"`
	c.sendRaw(`{"type":"ping","id":` + longest + `}`)
	if f := c.expect("pong"); f.str("re") != strings.Trim(longest, `"`) {
		t.Fatalf("a %d-byte id is not echoed: %v", wire.MaxIDLen, f)
	}
	for _, id := range []string{`"` + strings.Repeat("i", wire.MaxIDLen-1) + `"`, strings.Repeat("1", wire.MaxIDLen+1), `"` + strings.Repeat("x", 60_000) + `"`} {
		c.sendRaw(`{"type":"ping","id":` + id + `}`)
		f := c.expect("error")
		if f.str("code") != wire.CodeBadJSON || f["re"] != nil {
			t.Fatalf("a %d-byte id: got %v, want bad_json without re", len(id), f)
		}
	}
	// A relay's refusal echoes the id too: the fast path checks it.
	c.join("r")
	c.sendRaw(`{"type":"message","to":"nobody","data":1,"id":"` + strings.Repeat("x", 1000) + `"}`)
	if f := c.expect("error"); f.str("code") != wire.CodeBadJSON || f["re"] != nil {
		t.Fatalf("relay with a long id: got %v", f)
	}
}

func TestSourceOf(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		v4, v6 int
		want   string
	}{
		{"192.0.2.77", 32, 64, "192.0.2.77"},
		{"192.0.2.77", 24, 64, "192.0.2.0"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 32, 64, "2001:db8:1:2::"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 32, 48, "2001:db8:1::"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 32, 128, "2001:db8:1:2:aaaa:bbbb:cccc:dddd"},
		{"::1", 32, 64, "::"},
	} {
		got := sourceOf(netip.MustParseAddr(tc.addr), tc.v4, tc.v6)
		if got.String() != tc.want {
			t.Errorf("sourceOf(%s, /%d, /%d) = %s, want %s", tc.addr, tc.v4, tc.v6, got, tc.want)
		}
	}
	if got := sourceOf(netip.Addr{}, 32, 64); got.IsValid() {
		t.Errorf("no address gave %v", got)
	}
}

// TestSessionCapPerIPv6Prefix: behind a trusted proxy, every address of
// one /64 counts as one source: 2,849 sessions came from one /64 when
// each address had its own 500.
func TestSessionCapPerIPv6Prefix(t *testing.T) {
	_, url := startServer(t, Config{MaxSessionsPerAddr: 2,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	from := func(a string) http.Header { return http.Header{"X-Forwarded-For": {a}} }
	dial(t, url, from("2001:db8:0:1::1"))
	dial(t, url, from("2001:db8:0:1::2"))
	_, resp, err := websocket.DefaultDialer.Dial(url, from("2001:db8:0:1:ffff::3"))
	if err == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a third session from the /64: %v %+v", err, resp)
	}
	var e wire.ErrorFrame
	if decodeJSON(resp, &e); e.Code != wire.CodeTooManySessions {
		t.Fatalf("refusal %+v", e)
	}
	dial(t, url, from("2001:db8:0:2::1")) // the next /64 is another source
}

// TestJoinRatePerIPv6Prefix: joins are rationed per /64 too.
func TestJoinRatePerIPv6Prefix(t *testing.T) {
	_, url := startServer(t, Config{JoinRatePerAddr: 0.001, JoinBurstPerAddr: 1,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	a := dial(t, url, http.Header{"X-Forwarded-For": {"2001:db8::a"}})
	b := dial(t, url, http.Header{"X-Forwarded-For": {"2001:db8::b"}})
	a.join("one")
	b.send(frame{"type": "join", "room": "two"})
	if f := b.expect("error"); f.str("code") != wire.CodeRateLimited {
		t.Fatalf("second join from the /64: %v", f)
	}
}

// TestDefaultBufferBudget: the budget follows the memory the process may
// use, and a budget below one session's buffer is refused.
func TestDefaultBufferBudget(t *testing.T) {
	mem := processMemory()
	if runtime.GOOS == "linux" && mem <= 0 {
		t.Fatal("no memory size read on Linux")
	}
	if got, want := defaultBufferBudget(), max(mem/4, 64<<20); mem > 0 && got != want {
		t.Fatalf("default budget %d, want %d (a quarter of %d)", got, want, mem)
	}
	if _, err := New(Config{MaxBufferedBytes: 1 << 20, ReplayBytes: 2 << 20}); err == nil {
		t.Fatal("a budget below ReplayBytes was accepted")
	}
	for _, cfg := range []Config{{SourcePrefixV4: 33}, {SourcePrefixV6: 16}} {
		if _, err := New(cfg); err == nil {
			t.Fatalf("%+v accepted", cfg)
		}
	}
}

// rawHTTP writes req on a fresh connection to the server behind wsURL and
// returns the status line of the answer and whether the server then
// closed the connection within wait.
func rawHTTP(t *testing.T, wsURL, req string, wait time.Duration) (status string, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(httpBase(wsURL), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp.Status, errors.Is(err, io.EOF)
}

// TestRefusalsCloseConnections: a refused request gets its answer at once
// and then no kept-alive connection, even when it declared a body it
// never sends (such a POST without a token was never answered).
func TestRefusalsCloseConnections(t *testing.T) {
	_, url := startServer(t, Config{MaxSessionsPerAddr: 1})
	dial(t, url, nil) // the address's one session
	for _, tc := range []struct{ name, req, status string }{
		{"send without a token, body never sent", "POST /v1/send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n", "401 Unauthorized"},
		{"a session over the address's cap", "GET /v1/sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "429 Too Many Requests"},
		{"a foreign host", "GET /v1/poll HTTP/1.1\r\nHost: evil.example\r\n\r\n", "421 Misdirected Request"},
	} {
		status, closed := rawHTTP(t, url, tc.req, 2*time.Second)
		if status != tc.status || !closed {
			t.Errorf("%s: %q, closed %v; want %q and the connection closed", tc.name, status, closed, tc.status)
		}
	}
}

// TestDeclaredBodyHasADeadline: a request that declares a body and never
// sends it is let go within BodyTimeout on any endpoint, not held while
// net/http waits for the body to reuse the connection.
func TestDeclaredBodyHasADeadline(t *testing.T) {
	_, url := startServer(t, Config{BodyTimeout: 200 * time.Millisecond})
	c := dial(t, url, nil)
	c.join("r") // ice-servers answers 200 only in a room
	token := c.welcome.str("token")
	req := "GET /v1/ice-servers HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token + "\r\nContent-Length: 100\r\n\r\n"
	if status, closed := rawHTTP(t, url, req, 3*time.Second); status != "200 OK" || !closed {
		t.Fatalf("%q, closed %v; want 200 and the connection closed at the body's deadline", status, closed)
	}
}

// TestOriginWithUserInfoRefused: a browser's Origin is scheme://host[:port];
// one with user info or a path matches no origin, the server's own neither.
func TestOriginWithUserInfoRefused(t *testing.T) {
	_, url := startServer(t, Config{})
	host := strings.TrimPrefix(httpBase(url), "http://")
	for _, origin := range []string{"http://user@" + host, "http://user:pw@" + host, "http://" + host + "/x"} {
		_, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {origin}})
		if err == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %q: %v %+v, want 403", origin, err, resp)
		}
	}
	dial(t, url, http.Header{"Origin": {"http://" + host}}) // its own, as a browser writes it
}

// TestRelayedFrameWithinLimit: a frame at the size limit would reach its
// recipient over it once "from" is added: it is refused, not relayed.
func TestRelayedFrameWithinLimit(t *testing.T) {
	_, url := startServer(t, Config{ByteBurst: 1 << 20})
	a, b := dial(t, url, nil), dial(t, url, nil)
	a.join("r")
	b.join("r")
	a.expect("peer-joined")
	head, tail := `{"type":"message","to":"`+b.id+`","id":7,"data":"`, `"}`
	a.sendRaw(head + strings.Repeat("x", 64<<10-len(head)-len(tail)) + tail) // exactly 64 KiB
	if f := a.expect("error"); f.str("code") != wire.CodeTooLarge || f["re"] != float64(7) {
		t.Fatalf("got %v, want too_large for the relay", f)
	}
	a.sendRaw(head + strings.Repeat("x", 60<<10) + tail)
	if f := b.expect("message"); len(f.str("data")) != 60<<10 {
		t.Fatalf("a frame within the limit: %v", f["type"])
	}
}

// TestHeldConnectionsCappedPerSource: connections that never finish a
// request count against their source's cap; past it a connection is
// closed unanswered, while other sources are served.
func TestHeldConnectionsCappedPerSource(t *testing.T) {
	srv, url := startServer(t, Config{MaxConnsPerAddr: 3})
	addr := strings.TrimPrefix(httpBase(url), "http://")
	dialFrom := func(local string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	served := func(c net.Conn) bool {
		t.Helper()
		_, _ = c.Write([]byte("GET /v1/ice-servers HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized
	}
	local := netip.MustParseAddr("127.0.0.1")
	var held []net.Conn
	for range 3 {
		held = append(held, dialFrom("127.0.0.1"))
	}
	eventually(t, waitFor, "three connections held", func() error {
		if n := srv.heldConns(local); n < 3 {
			return fmt.Errorf("the server holds %d connections, want 3", n)
		}
		return nil
	})
	if served(dialFrom("127.0.0.1")) {
		t.Fatal("a fourth connection from the source was served")
	}
	if !served(dialFrom("127.0.0.2")) {
		t.Fatal("another source was not served")
	}
	held[0].Close()
	eventually(t, waitFor, "a closed connection no longer counted", func() error {
		if n := srv.heldConns(local); n > 2 {
			return fmt.Errorf("the server holds %d connections, want 2", n)
		}
		return nil
	})
	if !served(dialFrom("127.0.0.1")) {
		t.Fatal("the source was not served once one of its connections closed")
	}
}

// TestShutdownEndsHeldRequests: a request waiting for its body does not
// hold a stop until the body's deadline (it held the whole 10 s).
func TestShutdownEndsHeldRequests(t *testing.T) {
	srv, url := startServer(t, Config{BodyTimeout: time.Minute})
	// A poll's session: a WebSocket's close would wait for its client.
	_, frames := poll(t, httpBase(url), "")
	token := frames[0].str("token")
	conn, err := net.Dial("tcp", strings.TrimPrefix(httpBase(url), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("POST /v1/send HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
		"\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"))
	// net/http says 100 Continue when the handler starts reading the
	// body: from then on the request is held in it.
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("no 100 Continue: %q %v", line, err)
	}
	_, _ = conn.Write([]byte("{"))
	ctx, cancel := contextWithTimeout(waitFor)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v after %v", err, time.Since(start))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("shutdown took %v with a request waiting for its body", d)
	}
}

// TestClosedStreamNoticedAtOnce: a client that closes its event stream,
// or gives up a parked poll, is noticed when it does, not at the next
// heartbeat: its peers hear peer-left a grace period later (it came 23.5 s
// after the close with a 4 s grace).
func TestClosedStreamNoticedAtOnce(t *testing.T) {
	const grace = 100 * time.Millisecond
	// The heartbeat is far off: only the close can end the channels.
	srv, url := startServer(t, Config{PingInterval: time.Minute, ResumeGrace: grace, PollWait: time.Minute})
	peer := dial(t, url, nil)
	peer.join("r")

	s := openRawSSE(t, url, "")
	token := s.data().str("token")
	postOK(t, httpBase(url), token, frame{"type": "join", "room": "r"})
	peer.expect("peer-joined")
	closed := time.Now()
	s.conn.Close()
	if f := peer.expect("peer-left"); time.Since(closed) > grace+time.Second {
		t.Fatalf("%v after the stream closed, want about the grace period", time.Since(closed))
	} else {
		t.Logf("stream: peer-left %v after the close: %v", time.Since(closed), f)
	}

	// A poll parked out of net/http, given up by its client.
	_, frames := poll(t, httpBase(url), "")
	token = frames[0].str("token")
	postOK(t, httpBase(url), token, frame{"type": "join", "room": "r"})
	peer.expect("peer-joined")
	conn, err := net.Dial("tcp", strings.TrimPrefix(httpBase(url), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	// after=2: the welcome and joined are read; it waits, and is parked.
	_, _ = conn.Write([]byte("GET /v1/poll?token=" + token + "&after=2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
	waitParked(t, srv, token)
	closed = time.Now()
	conn.Close()
	if peer.expect("peer-left"); time.Since(closed) > grace+time.Second {
		t.Fatalf("%v after the poll was given up, want about the grace period", time.Since(closed))
	}
	t.Logf("poll: peer-left %v after the close", time.Since(closed))
}
