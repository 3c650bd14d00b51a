package turn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"
)

// writeCert writes a fresh self-signed certificate for 127.0.0.1 and
// returns its serial number.
func writeCert(t *testing.T, certFile, keyFile string) *big.Int {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return serial
}

type standaloneRun struct {
	st      *Standalone
	reload  chan struct{}
	drain   chan struct{}
	cancel  context.CancelFunc
	done    chan error
	dir     string
	cert    string
	key     string
	secret  string
	options *Options
}

func startStandalone(t *testing.T, extra string) *standaloneRun {
	t.Helper()
	dir := t.TempDir()
	r := &standaloneRun{reload: make(chan struct{}), drain: make(chan struct{}), done: make(chan error, 1),
		dir: dir, cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"), secret: "standalone-secret-0123"}
	writeCert(t, r.cert, r.key)
	file := strings.Join([]string{
		"listening-ip=127.0.0.1", "listening-port=0", "tls-listening-port=0",
		"min-port=41000", "max-port=42000", "use-auth-secret", "static-auth-secret=" + r.secret,
		"cert=" + r.cert, "pkey=" + r.key, "udp-sockets=2", "socket-buffer=262144",
		"metrics=127.0.0.1:0", "pprof=127.0.0.1:0", "pidfile=" + filepath.Join(dir, "turn.pid"), extra,
	}, "\n")
	r.options = DefaultOptions()
	if err := r.options.ParseConfigFile(strings.NewReader(file), "test.conf"); err != nil {
		t.Fatal(err)
	}
	st, err := StartStandalone(r.options, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.st = st
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- st.Run(ctx, Signals{Reload: r.reload, Drain: r.drain}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("standalone relay did not stop")
		}
	})
	return r
}

func (r *standaloneRun) tlsClient(t *testing.T, user, pass string) (*turn.Client, *tls.Conn) {
	t.Helper()
	conn, err := tls.Dial("tcp", r.st.TLSAddr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // self-signed test cert
	if err != nil {
		t.Fatal(err)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: r.st.TLSAddr().String(), TURNServerAddr: r.st.TLSAddr().String(),
		Conn: turn.NewSTUNConn(conn), Username: user, Password: pass,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); conn.Close() })
	return client, conn
}

// TestTLSReloadKeepsAllocations: after a reload new connections see the
// new certificate, and an allocation made over the old one lives on.
func TestTLSReloadKeepsAllocations(t *testing.T) {
	r := startStandalone(t, "")
	user, pass := Credentials([]byte(r.secret), "tls", time.Hour, time.Now())
	client, conn := r.tlsClient(t, user, pass)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	oldSerial := conn.ConnectionState().PeerCertificates[0].SerialNumber

	newSerial := writeCert(t, r.cert, r.key)
	r.reload <- struct{}{}
	waitUntil(t, func() bool {
		c, err := tls.Dial("tcp", r.st.TLSAddr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test
		if err != nil {
			return false
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(newSerial) == 0
	}, "new certificate served")
	if oldSerial.Cmp(newSerial) == 0 {
		t.Fatal("serials collide")
	}
	if n := r.st.Server.Allocations(); n != 1 {
		t.Fatalf("%d allocations after reload, want 1", n)
	}
	// The old connection still works: a permission round trip over it.
	if _, err := relay.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 9}); err != nil {
		t.Fatalf("allocation after reload: %v", err)
	}
	// A broken certificate is refused and the old one kept.
	if err := os.WriteFile(r.cert, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.reload <- struct{}{}
	r.reload <- struct{}{}                                                                    // the loop has handled the first when it takes the second
	c, err := tls.Dial("tcp", r.st.TLSAddr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(newSerial) != 0 {
		t.Fatal("a broken certificate replaced the good one")
	}
}

// TestDrain: SIGUSR1 refuses new allocations (486), keeps the live one,
// and Run returns once it ends.
func TestDrain(t *testing.T) {
	r := startStandalone(t, "")
	user, pass := Credentials([]byte(r.secret), "d", time.Hour, time.Now())
	client, _ := r.tlsClient(t, user, pass)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	r.drain <- struct{}{}
	waitUntil(t, func() bool { return r.st.Server.draining.Load() }, "draining")
	other, _ := r.tlsClient(t, user, pass)
	if c, err := other.Allocate(); err == nil || !strings.Contains(err.Error(), "486: Allocation Quota Reached: server draining") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("allocation while draining: %v, want 486", err)
	}
	select {
	case err := <-r.done:
		t.Fatalf("Run returned with an allocation live: %v", err)
	default:
	}
	relay.Close() // Refresh(0) ends it
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		r.done <- nil // for Cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the last allocation ended")
	}
	if _, err := os.Stat(filepath.Join(r.dir, "turn.pid")); !os.IsNotExist(err) {
		t.Errorf("pidfile left behind: %v", err)
	}
}

func TestStandaloneListenersAndMetrics(t *testing.T) {
	r := startStandalone(t, "")
	if len(r.st.udp) != 2 || r.st.udp[0].LocalAddr().String() != r.st.udp[1].LocalAddr().String() {
		t.Fatalf("udp sockets %v", r.st.udp)
	}
	rcv, snd, err := socketBuffers(r.st.udp[0].(*net.UDPConn))
	if err != nil {
		t.Fatal(err)
	}
	// The kernel may cap below the request; it must not be left at a
	// default far below it unless capped (logged).
	t.Logf("socket buffers: receive %d, send %d (asked 262144)", rcv, snd)
	pid, err := os.ReadFile(filepath.Join(r.dir, "turn.pid"))
	if err != nil || strings.TrimSpace(string(pid)) == "" {
		t.Fatalf("pidfile: %q %v", pid, err)
	}
	resp, err := httpGet("http://" + r.st.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"switchboard_turn_allocations ", "switchboard_turn_auth_total", "switchboard_stun_binding_answered_total",
		"switchboard_turn_allocations_total", "switchboard_turn_dropped_total", "switchboard_turn_relayed_bytes_total"} {
		if !strings.Contains(resp, name) {
			t.Errorf("metrics lack %s", name)
		}
	}
	// Both UDP sockets serve: a STUN Binding from many source ports
	// reaches whichever socket the kernel picks.
	for range 8 {
		c := newRawClient(t, r.st.UDPAddr().String(), "", "")
		m := c.roundTrip(c.build(0x001, false))
		if m.Type.Class != 0x02 { // success
			t.Fatalf("binding answered %v", m.Type)
		}
	}
}

// TestShutdownDrainsWithinDeadline: on SIGTERM (ctx ends) new allocations
// are refused at once and live ones get shutdown-timeout to end before
// the relay closes them.
func TestShutdownDrainsWithinDeadline(t *testing.T) {
	r := startStandalone(t, "shutdown-timeout=300ms")
	user, pass := Credentials([]byte(r.secret), "sd", time.Hour, time.Now())
	client, _ := r.tlsClient(t, user, pass)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	start := time.Now()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		r.done <- nil // for Cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the drain deadline")
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("returned after %v, before the drain deadline with an allocation live", d)
	}
	if !r.st.Server.draining.Load() {
		t.Error("not draining during shutdown")
	}
}
