package main

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v2"
)

// TestShutdownClosesRelayAtOnce: on shutdown the bundled relay's TCP
// connections end at once, even while the HTTP server's shutdown still
// waits for a request in flight (here one whose body never comes).
func TestShutdownClosesRelayAtOnce(t *testing.T) {
	parallel(t)
	app := startApp(t, func(c *config) { c.ShutdownTimeout = 20 * time.Second })
	turnConn, err := net.Dial("tcp4", app.turnTCP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer turnConn.Close()
	bind := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := turnConn.Write(bind.Raw); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = turnConn.SetReadDeadline(time.Now().Add(e2eTimeout))
	if _, err := io.ReadAtLeast(turnConn, buf, 20); err != nil {
		t.Fatalf("no Binding answer over TURN-TCP: %v", err)
	}

	// A session's send whose declared body never comes: the HTTP
	// server's shutdown waits for it (up to the body deadline).
	sse := dialOn(t, app.httpURL, "sse")
	held, err := net.Dial("tcp4", app.httpURL[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := io.WriteString(held, "POST /v1/send?token="+sse.token+" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- app.stop() }()
	const prompt = 2 * time.Second
	_ = turnConn.SetReadDeadline(start.Add(prompt))
	for {
		_, err := turnConn.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("TURN-TCP connection still open %v into shutdown", prompt)
		}
		break
	}
	t.Logf("TURN-TCP EOF after %v", time.Since(start))
	held.Close() // lets the HTTP server's shutdown finish
	if err := <-stopped; err != nil {
		t.Errorf("run returned %v", err)
	}
}
