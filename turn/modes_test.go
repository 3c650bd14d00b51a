package turn

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// answered sends req and returns its answer, or nil when none comes
// within wait.
func answered(t *testing.T, c *rawClient, req *stun.Message, wait time.Duration) *stun.Message {
	t.Helper()
	if _, err := c.conn.WriteTo(req.Raw, c.server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			return nil
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() == nil && m.TransactionID == req.TransactionID {
			return m
		}
	}
}

func TestSTUNOnlyIgnoresTURN(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.STUNOnly, c.Secrets = true, nil })
	c := newRawClient(t, r.udp, "", "")
	// The Binding answer comes after anything the Allocate would draw.
	alloc := c.build(stun.MethodAllocate, false, requestedUDP)
	if _, err := c.conn.WriteTo(alloc.Raw, c.server); err != nil {
		t.Fatal(err)
	}
	if m := answered(t, c, c.build(stun.MethodBinding, false), 5*time.Second); m == nil || m.Type != stun.BindingSuccess {
		t.Fatalf("Binding under stun-only: %v", m)
	}
	if got := testutil.ToFloat64(r.srv.metrics.droppedSTUNMode); got != 1 {
		t.Errorf("dropped{reason=mode} = %v", got)
	}
}

func TestNoSTUNIgnoresBinding(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.NoSTUN = true })
	c := newRawClient(t, r.udp, "", "")
	binding := c.build(stun.MethodBinding, false)
	if _, err := c.conn.WriteTo(binding.Raw, c.server); err != nil {
		t.Fatal(err)
	}
	// The 401 to an Allocate sent after it comes after any Binding answer.
	if m := answered(t, c, c.build(stun.MethodAllocate, false, requestedUDP), 5*time.Second); m == nil || errorCode(m) != 401 {
		t.Fatalf("Allocate under no-stun: %v", m)
	}
	if got := testutil.ToFloat64(r.srv.metrics.droppedSTUNMode); got != 1 {
		t.Errorf("dropped{reason=mode} = %v", got)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStartupLogWarnsAboutForeignAddress: every listener is logged, and an
// advertised address that is not on this host draws a warning.
func TestStartupLogWarnsAboutForeignAddress(t *testing.T) {
	o := DefaultOptions()
	conf := "listening-ip=127.0.0.1\nlistening-port=0\nexternal-ip=203.0.113.5\nuse-auth-secret\nstatic-auth-secret=0123456789abcdef0\n"
	if err := o.ParseConfigFile(strings.NewReader(conf), "c.conf"); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	st, err := StartStandalone(o, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := logs.String()
	for _, want := range []string{
		"transport=udp addr=" + st.UDPAddr().String(), "transport=tcp addr=" + st.TCPAddr().String(),
		"advertised=203.0.113.5", "not on this host",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("startup log lacks %q:\n%s", want, out)
		}
	}
}
