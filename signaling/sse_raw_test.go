package signaling

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// rawStream is an SSE client on a bare TCP connection, so a test can cut
// it and see exactly what the server wrote.
type rawStream struct {
	t    *testing.T
	conn net.Conn
	resp *http.Response
	br   *bufio.Reader
}

func openRawSSE(t *testing.T, wsURL, query string) *rawStream {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws://"), "/v1/ws")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(waitFor))
	if _, err := conn.Write([]byte("GET /v1/sse?" + query + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sse: status %d", resp.StatusCode)
	}
	return &rawStream{t: t, conn: conn, resp: resp, br: bufio.NewReader(resp.Body)}
}

// line reads the next line of the stream, without its newline; ok is
// false at the end of the stream.
func (s *rawStream) line() (string, bool) {
	s.t.Helper()
	l, err := s.br.ReadString('\n')
	if err != nil {
		if ne, isNet := err.(net.Error); isNet && ne.Timeout() {
			s.t.Fatal("sse: stream stalled")
		}
		return "", false
	}
	return strings.TrimSuffix(l, "\n"), true
}

// data reads up to the next data line and decodes it.
func (s *rawStream) data() frame {
	s.t.Helper()
	for {
		l, ok := s.line()
		if !ok {
			s.t.Fatal("sse: stream ended")
		}
		if d, found := strings.CutPrefix(l, "data: "); found {
			var f frame
			if err := json.Unmarshal([]byte(d), &f); err != nil {
				s.t.Fatalf("sse: %q: %v", d, err)
			}
			return f
		}
	}
}

// TestRawSSEHead: a hijacked stream's head carries what net/http's did,
// with the body delimited by the connection's close.
func TestRawSSEHead(t *testing.T) {
	_, url := startServer(t, Config{})
	s := openRawSSE(t, url, "")
	h := s.resp.Header
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !s.resp.Close || h.Get("Date") == "" || s.resp.ContentLength != -1 || len(s.resp.TransferEncoding) != 0 {
		t.Errorf("head: %v, length %d, encoding %v", h, s.resp.ContentLength, s.resp.TransferEncoding)
	}
	if l, _ := s.line(); l != "retry: 1000" {
		t.Errorf("first line %q, want retry", l)
	}
	if f := s.data(); f.str("type") != "welcome" {
		t.Errorf("first event %v, want welcome", f)
	}
}

// TestRawSSEHeartbeatsAndMaxAge: nothing runs for an idle hijacked
// stream but the heartbeat, which writes its comment lines, and the max
// age timer, which ends it.
func TestRawSSEHeartbeatsAndMaxAge(t *testing.T) {
	const ping, maxAge = 100 * time.Millisecond, time.Second
	_, url := startServer(t, Config{PingInterval: ping, SSEMaxAge: maxAge})
	start := time.Now()
	s := openRawSSE(t, url, "")
	if f := s.data(); f.str("type") != "welcome" {
		t.Fatalf("first event %v, want welcome", f)
	}
	beats := 0
	for {
		l, ok := s.line()
		if !ok {
			break
		}
		if l == ": hb" {
			beats++
		}
	}
	took := time.Since(start)
	if took < maxAge || took > maxAge+waitFor/2 {
		t.Errorf("stream ended after %s, want about %s", took, maxAge)
	}
	if beats < 3 {
		t.Errorf("%d heartbeats in %s, want one per %s", beats, took, ping)
	}
}

// TestRawSSEClientGone: nobody reads a parked stream's socket, yet a
// client that closed it detaches its session within two heartbeats.
func TestRawSSEClientGone(t *testing.T) {
	const ping = 300 * time.Millisecond
	srv, url := startServer(t, Config{PingInterval: ping})
	s := openRawSSE(t, url, "")
	welcome := s.data()
	sess := srv.lookup(welcome.str("token"))
	if sess == nil || sess.attached() == nil {
		t.Fatal("no attached session")
	}
	closed := time.Now()
	s.conn.Close()
	eventually(t, 2*ping+250*time.Millisecond, "the session detached after its client left", func() error {
		if sess.attached() != nil {
			return errors.New("still attached")
		}
		return nil
	})
	t.Logf("detached after %s", time.Since(closed))
}

// TestRawSSEShutdown: Shutdown ends parked streams with the shutdown
// notice, and every goroutine they started is gone when it returns
// (goleak checks the rest).
func TestRawSSEShutdown(t *testing.T) {
	srv, url := startServer(t, Config{})
	streams := make([]*rawStream, 20)
	for i := range streams {
		streams[i] = openRawSSE(t, url, "")
		if f := streams[i].data(); f.str("type") != "welcome" {
			t.Fatalf("first event %v", f)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i, s := range streams {
		if f := s.data(); f.str("type") != "error" || f.str("code") != wire.CodeShutdown {
			t.Errorf("stream %d: %v, want the shutdown notice", i, f)
		}
		if l, ok := s.line(); ok && l != "" {
			t.Errorf("stream %d: %q after the notice", i, l)
		}
		if _, ok := s.line(); ok {
			t.Errorf("stream %d: not closed after the notice", i)
		}
	}
}
