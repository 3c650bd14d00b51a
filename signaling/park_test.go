//go:build linux

package signaling

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// parkedCount is how many WebSockets srv holds parked.
func parkedCount(srv *Server) int {
	p := srv.parker
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.parked {
		if c != nil {
			n++
		}
	}
	return n
}

// waitWSParked waits until srv holds n WebSockets parked.
func waitWSParked(t *testing.T, srv *Server, n int) {
	t.Helper()
	eventually(t, waitFor, fmt.Sprintf("%d connections parked", n), func() error { // parking has no event
		if got := parkedCount(srv); got != n {
			return fmt.Errorf("%d parked", got)
		}
		return nil
	})
}

// masked is a client frame: FIN set, mask key 0 (the payload as is).
func masked(op byte, payload string) []byte {
	return append([]byte{0x80 | op, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}

// writeInPieces writes b one byte per TCP segment (Go sets TCP_NODELAY).
func writeInPieces(t *testing.T, nc net.Conn, b []byte) {
	t.Helper()
	for i := range b {
		if _, err := nc.Write(b[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParkedFrameInPieces(t *testing.T) {
	srv, url := startServer(t, Config{})
	c := dial(t, url, nil)
	waitWSParked(t, srv, 1)
	// A data frame, then a ping, each arriving a byte at a time.
	writeInPieces(t, c.ws.NetConn(), masked(websocket.TextMessage, `{"type":"ping","id":"split"}`))
	if f := c.expect("pong"); f.str("re") != "split" {
		t.Fatalf("got %v", f)
	}
	waitWSParked(t, srv, 1)
	pongs := make(chan string, 1)
	c.ws.SetPongHandler(func(data string) error { pongs <- data; return nil })
	writeInPieces(t, c.ws.NetConn(), masked(websocket.PingMessage, "in-pieces"))
	go func() { _, _, _ = c.ws.NextReader() }() // runs the pong handler; ends at Close
	select {
	case data := <-pongs:
		if data != "in-pieces" {
			t.Fatalf("pong %q", data)
		}
	case <-time.After(waitFor):
		t.Fatal("no pong")
	}
	waitWSParked(t, srv, 1)
}

// TestParkedControlFrames: pings and pongs on a parked connection are
// answered and the connection parks again; a close frame ends the
// session.
func TestParkedControlFrames(t *testing.T) {
	cfg := Config{PingInterval: 50 * time.Millisecond, PongTimeout: time.Second}
	srv, url := startServer(t, cfg)
	c := dial(t, url, nil)
	waitWSParked(t, srv, 1)

	// The server's pings: gorilla's default handler answers each with a
	// pong, which must keep the session alive past the pong deadline.
	pings := make(chan struct{}, 64)
	c.ws.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(waitFor))
	})
	pongs := make(chan string, 1)
	c.ws.SetPongHandler(func(data string) error { pongs <- data; return nil })
	read := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.ws.NextReader(); err != nil {
				read <- err
				return
			}
		}
	}()
	deadline := time.After(cfg.PingInterval + 2*cfg.PongTimeout)
	for n := 0; ; {
		select {
		case <-pings:
			n++
			continue
		case err := <-read:
			t.Fatalf("connection ended while answering pings: %v", err)
		case <-deadline:
		}
		if n < 10 {
			t.Fatalf("%d pings in %v", n, cfg.PingInterval+2*cfg.PongTimeout)
		}
		break
	}
	waitWSParked(t, srv, 1)

	// The client's ping.
	if err := c.ws.WriteControl(websocket.PingMessage, []byte("hello"), time.Now().Add(waitFor)); err != nil {
		t.Fatal(err)
	}
	select {
	case data := <-pongs:
		if data != "hello" {
			t.Fatalf("pong %q", data)
		}
	case <-time.After(waitFor):
		t.Fatal("no pong")
	}

	// The client's close: the server answers it and ends the session.
	waitWSParked(t, srv, 1)
	token := c.welcome.str("token")
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(waitFor)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-read:
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Fatalf("read ended with %v, want the close echoed", err)
		}
	case <-time.After(waitFor):
		t.Fatal("close not answered")
	}
	eventually(t, waitFor, "the session ended after its close", func() error { // after the echo, with no event
		if srv.lookup(token) != nil {
			return errors.New("still there")
		}
		return nil
	})
	waitWSParked(t, srv, 0)
}

// TestParkedSilentClientDropped: no read waits on a parked connection's
// deadline; the heartbeat drops it.
func TestParkedSilentClientDropped(t *testing.T) {
	cfg := Config{PingInterval: 50 * time.Millisecond, PongTimeout: 200 * time.Millisecond}
	srv, url := startServer(t, cfg)
	c := dial(t, url, nil)
	waitWSParked(t, srv, 1)
	start := time.Now()
	_ = c.ws.SetReadDeadline(time.Now().Add(waitFor))
	c.ws.SetPingHandler(func(string) error { return nil }) // never answers
	for {
		if _, _, err := c.ws.ReadMessage(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("server never dropped the silent client")
			}
			break
		}
	}
	if d := time.Since(start); d < cfg.PongTimeout {
		t.Fatalf("dropped after %v, before the pong deadline", d)
	}
	waitWSParked(t, srv, 0)
}

// minimalWS is a minimal WebSocket client: one descriptor and a small buffer,
// so that thousands fit in a test.
type minimalWS struct {
	nc net.Conn
	br *bufio.Reader
}

// dialMinimal connects to addr from 127.0.0.src: thousands of connections
// from one address to one port would run through the ephemeral ports,
// counting those a previous run left in TIME_WAIT.
func dialMinimal(addr string, src byte) (*minimalWS, error) {
	d := net.Dialer{Timeout: waitFor, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, src)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(12 * waitFor))
	c := &minimalWS{nc: nc, br: bufio.NewReaderSize(nc, 512)}
	req := "GET /v1/ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err == nil && resp.StatusCode != http.StatusSwitchingProtocols {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// next returns the next data frame's payload, skipping pings.
func (c *minimalWS) next() (string, error) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return "", err
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var e [2]byte
			if _, err := io.ReadFull(c.br, e[:]); err != nil {
				return "", err
			}
			n = uint64(binary.BigEndian.Uint16(e[:]))
		case 127:
			var e [8]byte
			if _, err := io.ReadFull(c.br, e[:]); err != nil {
				return "", err
			}
			n = binary.BigEndian.Uint64(e[:])
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(c.br, b); err != nil {
			return "", err
		}
		if h[0]&0x0f == websocket.TextMessage {
			return string(b), nil
		}
	}
}

// TestManyParkedConnections: 10,000 connections parked, woken in random
// order, each frame answered in order. The clients run in a child process
// (this test, with parkClientEnv set to the server's address): the two
// ends of 10,000 connections would not fit one process's file limit.
func TestManyParkedConnections(t *testing.T) {
	const conns, rounds = 10000, 3
	if addr := os.Getenv(parkClientEnv); addr != "" {
		parkClient(t, addr, conns, rounds)
		return
	}
	// No heartbeat during the test: on a loaded machine its inline pings
	// (50 ms to write) give up on connections that are fine.
	srv, url := startServer(t, Config{MaxSessions: conns, MaxSessionsPerAddr: conns,
		JoinRatePerAddr: 1e6, JoinBurstPerAddr: 1e6, PingInterval: time.Hour})
	if srv.cfg.MaxSessions < conns {
		t.Fatalf("the file limit allows %d sessions, want %d", srv.cfg.MaxSessions, conns)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/v1/ws")
	ctx, cancel := context.WithTimeout(context.Background(), 12*waitFor)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestManyParkedConnections$", "-test.count=1")
	cmd.Env = append(os.Environ(), parkClientEnv+"="+addr)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	defer in.Close()
	lines := bufio.NewScanner(out)
	// await reads the child's stdout up to want; anything else is its log.
	await := func(want string) {
		for lines.Scan() {
			if lines.Text() == want {
				return
			}
			t.Log("clients:", lines.Text())
		}
		t.Fatalf("clients ended before %q", want)
	}
	await("connected")
	waitWSParked(t, srv, conns)
	if _, err := io.WriteString(in, "go\n"); err != nil {
		t.Fatal(err)
	}
	await("answered")
	waitWSParked(t, srv, conns)
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("clients: %v", err)
	}
}

const parkClientEnv = "SB_PARK_CLIENT"

// parkClient is TestManyParkedConnections' child: it connects, says
// "connected", waits for a line, sends each connection's frames in random
// order, reads the answers, says "answered" and waits for stdin to end.
func parkClient(t *testing.T, addr string, conns, rounds int) {
	clients := make([]*minimalWS, conns)
	errs := make(chan error, conns)
	sem := make(chan struct{}, 64)
	for i := range clients {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			c, err := dialMinimal(addr, byte(2+i%16))
			if err == nil {
				var f string
				if f, err = c.next(); err == nil && !strings.Contains(f, `"welcome"`) {
					err = fmt.Errorf("first frame %s", f)
				}
			}
			clients[i] = c
			errs <- err
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatalf("connecting: %v", err)
		}
	}
	defer func() {
		for _, c := range clients {
			c.nc.Close()
		}
	}()
	stdin := bufio.NewReader(os.Stdin)
	fmt.Println("connected")
	if _, err := stdin.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	for r := range rounds {
		for _, i := range rand.Perm(conns) {
			f := masked(websocket.TextMessage, fmt.Sprintf(`{"type":"ping","id":"%d"}`, r))
			if _, err := clients[i].nc.Write(f); err != nil {
				t.Fatalf("conn %d round %d: %v", i, r, err)
			}
		}
	}
	for i, c := range clients {
		for r := range rounds {
			f, err := c.next()
			if err != nil {
				t.Fatalf("conn %d frame %d: %v", i, r, err)
			}
			if want := fmt.Sprintf(`"re":"%d"`, r); !strings.Contains(f, want) {
				t.Fatalf("conn %d: got %s, want %s", i, f, want)
			}
		}
	}
	fmt.Println("answered")
	_, _ = stdin.ReadString('\n') // until the parent closes it
}

// TestShutdownWithParkedConnections: Shutdown closes parked connections
// with 1001 within its deadline, and leaves no goroutine behind (goleak).
func TestShutdownWithParkedConnections(t *testing.T) {
	srv, url := startServer(t, Config{})
	var clients []*client
	for range 50 {
		clients = append(clients, dial(t, url, nil))
	}
	waitWSParked(t, srv, len(clients))
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for _, c := range clients {
		if ce := c.expectClose(); ce.Code != websocket.CloseGoingAway {
			t.Fatalf("closed with %d, want 1001", ce.Code)
		}
	}
}

// TestParkAllocatesNothing: arming a connection again, which every pong
// on an idle one does, leaves no garbage; with some, 10,000 idle
// sessions' pings refilled the heap to its GOGC goal.
func TestParkAllocatesNothing(t *testing.T) {
	srv, url := startServer(t, Config{})
	cl := dial(t, url, nil)
	waitWSParked(t, srv, 1)
	sess := srv.lookup(cl.welcome.str("token"))
	sess.chMu.Lock()
	c := sess.ch.(*wsConn)
	sess.chMu.Unlock()
	parked := true
	if n := testing.AllocsPerRun(100, func() { parked = parked && srv.parker.park(c) }); n != 0 {
		t.Fatalf("%v allocations per park", n)
	}
	if !parked {
		t.Fatal("not parked again")
	}
}

// TestCloseFrameReachesBusySender: a close frame and the events before it
// reach a client that still has bytes on their way to the server (paced
// by the byte budget) and reads only once the server is done with the
// socket. Closing a socket with unread bytes resets the connection and
// throws away what the kernel has not sent yet, the close frame last.
func TestCloseFrameReachesBusySender(t *testing.T) {
	srv, url := startServer(t, Config{}) // 32 KiB/s, 256 KiB at once
	rx, tx := dialSmallWindow(t, url), dial(t, url, nil)
	rx.join("busy")
	tx.join("busy")
	rx.expect("peer-joined")
	sess := srv.lookup(rx.welcome.str("token"))
	sess.chMu.Lock()
	c := sess.ch.(*wsConn)
	sess.chMu.Unlock()

	// 600 KiB up, to the peer: the server reads 256 KiB, then 16 KiB
	// every half second.
	sent := make(chan error, 1)
	go func() {
		_ = rx.ws.SetWriteDeadline(time.Now().Add(waitFor))
		data := strings.Repeat("x", 60<<10)
		for range 10 {
			b, _ := json.Marshal(frame{"type": "message", "to": tx.id, "data": data})
			if err := rx.ws.WriteMessage(websocket.TextMessage, b); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("upload stuck")
	}

	// 512 KiB down, more than the client's window, then a close.
	c.mu.Lock()
	big := strings.Repeat("y", 8<<10)
	for i := range eventBatch {
		if _, err := sess.log.Append([]byte(`{"type":"message","id":` + strconv.Itoa(i) + `,"data":"` + big + `"}`)); err != nil {
			c.mu.Unlock()
			t.Fatal(err)
		}
	}
	c.pending = true
	c.mu.Unlock()
	c.close(wire.CloseResume, wire.CodeResume)

	// Before reading anything: the server must let go of a client whose
	// window is full; detaching has no event a test can wait on.
	eventually(t, waitFor, "the server let go of the socket", func() error {
		if sess.attached() != nil {
			return errors.New("still attached")
		}
		return nil
	})
	got := 0
	_ = rx.ws.SetReadDeadline(time.Now().Add(waitFor))
	for {
		_, msg, err := rx.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != wire.CloseResume || got != eventBatch {
				t.Fatalf("close %d %q after %d of our %d events", ce.Code, ce.Text, got, eventBatch)
			}
			return
		}
		if err != nil {
			t.Fatalf("after %d of our %d events: %v, want close 4000", got, eventBatch, err)
		}
		var f frame
		if err := json.Unmarshal(msg, &f); err != nil || f.str("type") != "message" || f["id"] != float64(got) {
			t.Fatalf("event %d: %.80s", got, msg)
		}
		got++
	}
}
