package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitFor = 5 * time.Second

// eventually polls cond until it returns nil, and fails the test with what
// and cond's last error once within has passed. It is for state no event
// announces (a session's channel, a counter, a node's view of Redis): a
// test that can wait on a frame or a channel does that instead.
func eventually(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(2 * time.Millisecond) // the poll's interval: the state has no event to wait on
	}
}

// startServer serves a signaling Server on 127.0.0.1:0 until the test ends.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ConnState: srv.ConnState}
	served := make(chan struct{})
	go func() { defer close(served); _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		// The client's Transport may have dialled a connection it then
		// did not use (a parked poll's answer closes its connection, so
		// polls dial often). net/http's Shutdown waits 5 s for such a
		// connection, which never sent a request, before it counts as
		// idle.
		http.DefaultClient.CloseIdleConnections()
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http shutdown: %v", err)
		}
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("signaling shutdown: %v", err)
		}
		<-served
	})
	return srv, "ws://" + ln.Addr().String() + "/v1/ws"
}

type frame map[string]any

func (f frame) str(key string) string { s, _ := f[key].(string); return s }

// client is a protocol client over a real WebSocket.
type client struct {
	t       testing.TB
	ws      *websocket.Conn
	id      string
	welcome frame
}

func dial(t testing.TB, url string, header http.Header) *client {
	t.Helper()
	return dialWith(t, websocket.DefaultDialer, url, header)
}

// dialWith connects a client through d and takes its welcome.
func dialWith(t testing.TB, d *websocket.Dialer, url string, header http.Header) *client {
	t.Helper()
	ws, resp, err := d.Dial(url, header)
	if err != nil {
		t.Fatalf("dial: %v (response %+v)", err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	c := &client{t: t, ws: ws}
	c.welcome = c.expect("welcome")
	c.id = c.welcome.str("session")
	return c
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

// hangUp closes the WebSocket the way a browser does on purpose (1000),
// which ends the session at once rather than detaching it.
func (c *client) hangUp() {
	c.t.Helper()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(waitFor))
	c.ws.Close()
}

// read returns the next frame, failing the test after waitFor.
func (c *client) read() frame {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(waitFor))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("server sent invalid JSON %q: %v", b, err)
	}
	return f
}

func (c *client) expect(typ string) frame {
	c.t.Helper()
	f := c.read()
	if f.str("type") != typ {
		c.t.Fatalf("got %v, want type %q", f, typ)
	}
	return f
}

func (c *client) join(room string) frame {
	c.t.Helper()
	c.send(frame{"type": "join", "room": room})
	return c.expect("joined")
}

// alive proves the connection still works and nothing else is queued
// ahead: a ping is answered by the very next frame.
func (c *client) alive() {
	c.t.Helper()
	c.send(frame{"type": "ping", "id": "alive"})
	if f := c.expect("pong"); f.str("re") != "alive" {
		c.t.Fatalf("pong %v does not echo id", f)
	}
}

// expectClose reads until the server closes and returns the close frame.
func (c *client) expectClose() *websocket.CloseError {
	c.t.Helper()
	deadline := time.Now().Add(waitFor)
	_ = c.ws.SetReadDeadline(deadline)
	for time.Now().Before(deadline) {
		_, _, err := c.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		if err != nil {
			c.t.Fatalf("connection ended without a close frame: %v", err)
		}
	}
	c.t.Fatal("server did not close the connection")
	return nil
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// lookup finds a live session by its token, as a request would.
func (s *Server) lookup(token string) *session {
	sess, _ := s.sessionFor(token, netip.Addr{})
	return sess
}

// heldConns reports how many connections net/http holds for source.
func (s *Server) heldConns(source netip.Addr) int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.connsBySource[source]
}
