package signaling

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

// TestOrphanedPollDoesNotReplace: a poll its client gave up before the
// server read it (written, then the connection closed, as a client does
// when it cuts a poll to resume elsewhere) must not take the session
// from the channel that replaced it. It did: such a late poll closed the
// resumed WebSocket with 4001 (TestResumeMidNegotiation/poll-to-ws,
// issue 20). The poll's last byte and its FIN leave in one segment (the
// socket is corked), so the server sees the request and the hang-up
// together, as it does when its goroutine runs late.
func TestOrphanedPollDoesNotReplace(t *testing.T) {
	srv, url := startServer(t, Config{})
	ws := dial(t, url, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(httpBase(url), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET /v1/poll?token=" + ws.welcome.str("token") + "&after=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
	if _, err := conn.Write([]byte(req[:len(req)-1])); err != nil {
		t.Fatal(err)
	}
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var corkErr error
	if err := raw.Control(func(fd uintptr) { corkErr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, 1) }); err != nil || corkErr != nil {
		t.Fatalf("cork: %v %v", err, corkErr)
	}
	if _, err := conn.Write([]byte(req[len(req)-1:])); err != nil {
		t.Fatal(err)
	}
	conn.Close() // the corked byte goes with the FIN

	dropped := srv.metrics.errors.WithLabelValues(codeOrphaned)
	eventually(t, waitFor, "the given-up poll dropped as orphaned", func() error { // a counter no event signals
		if testutil.ToFloat64(dropped) < 1 {
			return errors.New("not counted")
		}
		return nil
	})
	ws.alive() // still the session's channel: a 4001 close would fail here
}
