package turn

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPionLogsThrottled: a flood of pion log lines, debug ones included,
// is cut to the shared budget.
func TestPionLogsThrottled(t *testing.T) {
	var buf bytes.Buffer
	f := newSlogFactory(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l := f.NewLogger("test")
	for i := 0; i < 1000; i++ {
		l.Debugf("bad packet %d", i)
		l.Warn("bad packet")
	}
	if n := strings.Count(buf.String(), "\n"); n > 60 {
		t.Fatalf("%d lines written for 2000 logged; the budget is a burst of 50", n)
	}
}

// recorder is a slog handler that hands each record to a channel.
type recorder struct{ records chan slog.Record }

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	select {
	case r.records <- rec:
	default: // a test reads what it waits for; the rest may go
	}
	return nil
}
func (r recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r recorder) WithGroup(string) slog.Handler      { return r }

// TestTLSHangUpIsNotAnError: a TLS client that resets its connection makes
// pion fail to send closeNotify when it closes its side; that is logged at
// Debug, not as an ERROR on every hang-up.
func TestTLSHangUpIsNotAnError(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writeCert(t, certFile, keyFile)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := recorder{records: make(chan slog.Record, 256)}
	startRelay(t, func(c *Config) {
		c.TLS = []net.Listener{tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})}
		c.Logger = slog.New(rec)
	})
	conn, err := tls.Dial("tcp4", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // self-signed test cert
	if err != nil {
		t.Fatal(err)
	}
	tcpBinding(t, conn) // the server has finished its handshake and reads
	_ = conn.NetConn().(*net.TCPConn).SetLinger(0)
	_ = conn.NetConn().Close() // RST: the server's closeNotify has nowhere to go
	deadline := time.After(10 * time.Second)
	for {
		select {
		case rec := <-rec.records:
			if !strings.HasPrefix(rec.Message, "Failed to close conn") {
				continue
			}
			if rec.Level != slog.LevelDebug {
				t.Fatalf("%s logged at %v", rec.Message, rec.Level)
			}
			return
		case <-deadline:
			t.Fatal("pion did not report the failed close at all")
		}
	}
}

func TestClientDoingsDemoted(t *testing.T) {
	var buf bytes.Buffer
	l := newSlogFactory(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))).NewLogger("turn")
	l.Errorf("Failed to close conn: %s", "tls: failed to send closeNotify alert (but connection was closed anyway)")
	l.Error("Failed to close conn: x")
	l.Errorf("Failed to handle datagram: %v", "x")
	if got := buf.String(); strings.Count(got, "level=DEBUG") != 2 || strings.Count(got, "level=ERROR") != 1 {
		t.Fatalf("levels:\n%s", got)
	}
}
