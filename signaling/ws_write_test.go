package signaling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TestWriterBatchesPingsInOrder floods one peer with events while the
// server's pings (every 64 KiB and on the heartbeat) and the client's own
// pings go through the same writer: every event arrives once, in seq
// order, each ping carries exactly the seq of the last event before it in
// the stream, and every client ping is answered.
func TestWriterBatchesPingsInOrder(t *testing.T) {
	_, url := startServer(t, Config{RateLimit: 1e6, RateBurst: 1e6, ByteRate: 1 << 30, ByteBurst: 1 << 30,
		PingInterval: 40 * time.Millisecond, PongTimeout: 5 * time.Second,
		// All n events fit: the order is under test, not the slow-consumer
		// cut, which a starved reader under -race would otherwise meet.
		ReplayEvents: 4096, ReplayBytes: 8 << 20})
	rx, tx := dial(t, url, nil), dial(t, url, nil)
	rx.join("batch")
	tx.join("batch")
	const n = 2000
	lastSeq, pings, badPing := seqOf(rx.expect("peer-joined")), 0, ""
	rx.ws.SetPingHandler(func(data string) error {
		pings++
		if data != strconv.Itoa(lastSeq) && badPing == "" {
			badPing = data + " after seq " + strconv.Itoa(lastSeq)
		}
		return rx.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(waitFor))
	})
	pongs := make(chan string, n)
	rx.ws.SetPongHandler(func(data string) error { pongs <- data; return nil })

	sent := make(chan error, 1)
	go func() {
		payload := strings.Repeat("x", 1500)
		for i := range n {
			b, _ := json.Marshal(frame{"type": "message", "to": rx.id, "data": payload, "id": i})
			if err := tx.ws.WriteMessage(websocket.TextMessage, b); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	got, asked := 0, 0
	for got < n {
		if got%100 == 0 { // the client's pings, answered by the busy writer
			asked++
			if err := rx.ws.WriteControl(websocket.PingMessage, []byte("c"+strconv.Itoa(asked)), time.Now().Add(waitFor)); err != nil {
				t.Fatal(err)
			}
		}
		f := rx.read()
		if f.str("type") != "message" {
			t.Fatalf("frame %d: %v", got, f)
		}
		seq := seqOf(f)
		if seq != lastSeq+1 {
			t.Fatalf("seq %d after %d", seq, lastSeq)
		}
		if f["data"] != strings.Repeat("x", 1500) || f["from"] != tx.id {
			t.Fatalf("frame %d: %v", got, f)
		}
		lastSeq = seq
		got++
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if badPing != "" {
		t.Fatalf("a ping acknowledged %s", badPing)
	}
	// A ping follows the batch (up to eventBatch events) that passed
	// ackBytes.
	if per := ackBytes + eventBatch*1600; pings < n*1500/per {
		t.Fatalf("%d pings for %d bytes, want one per %d at most", pings, n*1500, per)
	}
	rx.alive() // reads on, so the last pongs arrive
	// Only the newest of several waiting pings need be answered, so
	// pongs may skip numbers but never go back, and the last comes.
	for last := 0; last < asked; {
		select {
		case p := <-pongs:
			k, err := strconv.Atoi(strings.TrimPrefix(p, "c"))
			if err != nil || k <= last {
				t.Fatalf("pong %q after c%d", p, last)
			}
			last = k
		case <-time.After(waitFor):
			t.Fatalf("no pong for ping c%d", asked)
		}
	}
}

// dialSmallWindow dials with a tiny socket receive buffer, so that the
// server's vectored writes go out in many partial writes.
func dialSmallWindow(t *testing.T, url string) *client {
	t.Helper()
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(32 << 10)
		}
		return c, err
	}}
	return dialWith(t, &d, url, nil)
}

// TestWriterSlowReader lets a peer with a small receive window fall far
// behind, then read: every event arrives intact and in order, although
// each vectored write was cut into many.
func TestWriterSlowReader(t *testing.T) {
	_, url := startServer(t, Config{RateLimit: 1e6, RateBurst: 1e6, ByteRate: 1 << 30, ByteBurst: 1 << 30, ReplayBytes: 64 << 20})
	rx, tx := dialSmallWindow(t, url), dial(t, url, nil)
	rx.join("slow")
	tx.join("slow")
	base := seqOf(rx.expect("peer-joined"))
	const n = 300 // 4.8 MB: more than the kernel's buffers on both sides hold
	for i := range n {
		tx.send(frame{"type": "message", "to": rx.id, "data": strings.Repeat(string(rune('a'+i%26)), 1000+100*i), "id": i})
	}
	tx.alive() // the server has taken them all
	for i := range n {
		f := rx.read()
		if seqOf(f) != base+i+1 || f["data"] != strings.Repeat(string(rune('a'+i%26)), 1000+100*i) {
			t.Fatalf("event %d: seq %d, %d bytes of data", i, seqOf(f), len(f.str("data")))
		}
	}
	rx.alive()
}

// TestWriterDeadline: a client that stops reading is dropped once a write
// has waited WriteTimeout, and its session is kept for a resume.
func TestWriterDeadline(t *testing.T) {
	srv, url := startServer(t, Config{RateLimit: 1e6, RateBurst: 1e6, ByteRate: 1 << 30, ByteBurst: 1 << 30,
		WriteTimeout: 100 * time.Millisecond, ReplayBytes: 64 << 20, ReplayEvents: 1 << 20})
	rx, tx := dialSmallWindow(t, url), dial(t, url, nil)
	rx.join("stuck")
	tx.join("stuck")
	rx.expect("peer-joined")
	// A few MiB fill the kernel's buffers on both sides many times over.
	payload := strings.Repeat("y", 30000)
	msg, _ := json.Marshal(frame{"type": "message", "to": rx.id, "data": payload})
	for range 250 {
		tx.sendRaw(string(msg))
	}
	tx.alive()
	waitDetached(t, srv, rx.welcome.str("token"))
	// The server dropped the socket without a close frame: what the
	// kernel had buffered arrives, then the connection ends.
	_ = rx.ws.SetReadDeadline(time.Now().Add(waitFor))
	for {
		_, _, err := rx.ws.ReadMessage()
		if err == nil {
			continue
		}
		if _, ok := err.(*websocket.CloseError); ok {
			t.Fatalf("got a close frame: %v", err)
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the connection was never dropped")
		}
		break
	}
}

// TestFrameWriterCoalesces checks the framing and that a socket without
// writev (TLS, here a pipe) gets the same bytes in one write as a TCP
// socket gets in one vectored write.
func TestFrameWriterCoalesces(t *testing.T) {
	big := bytes.Repeat([]byte("b"), 70000) // a 64-bit length
	mid := bytes.Repeat([]byte("m"), 300)   // a 16-bit length, own iovec
	gather := func(w *frameWriter) {
		w.reset()
		w.control(websocket.PongMessage, []byte("p"))
		w.text([]byte(`{"type":"x"`), []byte(`,"seq":1}`))
		w.text(mid, []byte("!"))
		w.text(big, nil)
		w.control(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	}
	want := []byte{0x8a, 1, 'p', 0x81, 20}
	want = append(want, `{"type":"x","seq":1}`...)
	want = append(want, 0x81, 126, 301>>8, 301&0xff)
	want = append(append(want, mid...), '!')
	want = append(want, 0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70)
	want = append(want, big...)
	want = append(want, 0x88, 2, 0x03, 0xe8)

	read := func(c net.Conn) chan []byte {
		out := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(c); out <- b }()
		return out
	}

	a, b := net.Pipe()
	got := read(b)
	w := frameWriters.Get().(*frameWriter)
	gather(w)
	if err := w.flush(a); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if g := <-got; !bytes.Equal(g, want) {
		t.Fatalf("pipe: %d bytes, want %d; head % x", len(g), len(want), g[:min(len(g), 40)])
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); accepted <- c }()
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	got = read(tc)
	gather(w)
	if len(w.parts) < 3 {
		t.Fatalf("%d parts: the large frames should be referenced, not copied", len(w.parts))
	}
	if err := w.flush(sc); err != nil {
		t.Fatal(err)
	}
	sc.Close()
	g := <-got
	tc.Close()
	if !bytes.Equal(g, want) {
		t.Fatalf("tcp: %d bytes, want %d", len(g), len(want))
	}
	w.release()
}

// TestCloseWaitsForEventsDue: a close frame asking the client to resume,
// queued in the same turn as events (a maximum age just after the
// welcome), goes out after one batch of them, so the client sees those
// first. Any other close goes out at once: a slow consumer's does not
// wait for its backlog, nor a replaced socket's for its successor's
// events.
func TestCloseWaitsForEventsDue(t *testing.T) {
	for _, tc := range []struct {
		code        int
		reason      string
		eventsFirst int
	}{
		{wire.CloseResume, wire.CodeResume, eventBatch},
		{wire.CloseReplaced, wire.CodeReplaced, 0},
		{websocket.ClosePolicyViolation, wire.CodeSlowConsumer, 0},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			srv, url := startServer(t, Config{})
			rx := dial(t, url, nil)
			sess := srv.lookup(rx.welcome.str("token"))
			sess.chMu.Lock()
			c := sess.ch.(*wsConn)
			sess.chMu.Unlock()

			c.mu.Lock() // no writer turn until both are due
			for i := range eventBatch + 1 {
				if _, err := sess.log.Append([]byte(`{"type":"message","id":` + strconv.Itoa(i) + `}`)); err != nil {
					c.mu.Unlock()
					t.Fatal(err)
				}
			}
			c.pending = true
			c.mu.Unlock()
			c.close(tc.code, tc.reason) // takes mu: the writer starts with both due

			for i := range tc.eventsFirst {
				if f := rx.expect("message"); f["id"] != float64(i) {
					t.Fatalf("event %d: %v", i, f)
				}
			}
			_ = rx.ws.SetReadDeadline(time.Now().Add(waitFor))
			_, msg, err := rx.ws.ReadMessage() // the close, nothing else
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != tc.code || ce.Text != tc.reason {
				t.Fatalf("after %d events: %q, %v; want close %d %q", tc.eventsFirst, msg, err, tc.code, tc.reason)
			}
		})
	}
}
