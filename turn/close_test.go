package turn

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/pion/turn/v4"
)

// closePrompt bounds how long a TCP client may wait for EOF once the relay
// closes or drains: the close is immediate, the rest is scheduling.
const closePrompt = 2 * time.Second

// expectEOF reads c until it ends and fails unless it ends within
// closePrompt of start.
func expectEOF(t *testing.T, c net.Conn, start time.Time, what string) {
	t.Helper()
	_ = c.SetReadDeadline(start.Add(closePrompt))
	buf := make([]byte, 1500)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: no EOF within %v", what, closePrompt)
		}
		if err != io.EOF && !isReset(err) {
			t.Logf("%s ended with %v", what, err)
		}
		return
	}
}

// tcpAllocation dials the relay over TCP and allocates on that
// connection, which it returns.
func tcpAllocation(t *testing.T, r *testRelay, user string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp4", r.tcp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	u, p := Credentials([]byte(testSecret), user, time.Hour, time.Now())
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: r.tcp, TURNServerAddr: r.tcp, Conn: turn.NewSTUNConn(c),
		Username: u, Password: p, RTO: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	return c
}

// TestCloseEndsTCPConnections: Close ends every TCP connection at once,
// with or without an allocation, and can be called again.
func TestCloseEndsTCPConnections(t *testing.T) {
	r := startRelay(t, nil)
	idle, err := net.Dial("tcp4", r.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	tcpBinding(t, idle)
	allocated := tcpAllocation(t, r, "closing")
	start := time.Now()
	if err := r.srv.Close(); err != nil {
		t.Logf("Close: %v", err)
	}
	expectEOF(t, idle, start, "connection without an allocation")
	expectEOF(t, allocated, start, "connection with an allocation")
	if d := time.Since(start); d > closePrompt {
		t.Fatalf("Close took %v", d)
	}
	_ = r.srv.Close() // Cleanup's second Close must not block or panic
}

// TestDrainEndsIdleTCPConnections: Drain ends the TCP connections that
// hold no allocation at once; one with an allocation stays until Close.
func TestDrainEndsIdleTCPConnections(t *testing.T) {
	r := startRelay(t, nil)
	idle, err := net.Dial("tcp4", r.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	tcpBinding(t, idle)
	allocated := tcpAllocation(t, r, "draining")
	start := time.Now()
	r.srv.Drain()
	expectEOF(t, idle, start, "connection without an allocation")
	if n := r.srv.Allocations(); n != 1 {
		t.Fatalf("%d allocations while draining, want the TCP one kept", n)
	}
	start = time.Now()
	_ = r.srv.Close()
	expectEOF(t, allocated, start, "connection with an allocation, at Close")
}
