package turn

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v2"
)

// newShare splits a new TLS listener on 127.0.0.1, with a fresh
// self-signed certificate.
func newShare(t *testing.T) (*SharedTLS, net.Listener) {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writeCert(t, cert, key)
	certs, err := NewCertReloader(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ShareTLS(ln, certs.TLSConfig()), ln
}

// startShared splits a TLS listener on 127.0.0.1 between an HTTP server
// (answering "tls=<r.TLS set> proto=<r.Proto>") and the returned TURN side.
func startShared(t *testing.T) (addr string, turnSide net.Listener) {
	t.Helper()
	share, ln := newShare(t)
	hs := &http.Server{
		Handler: RestoreTLS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "tls=%v proto=%s", r.TLS != nil, r.Proto)
		})),
		ConnContext:       ConnContext,
		TLSConfig:         share.TLSConfig(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = hs.Serve(share.HTTP()) }()
	t.Cleanup(func() {
		_ = hs.Close()
		<-served
		_ = share.Close()
	})
	return ln.Addr().String(), share.TURN()
}

func dialTLS(t *testing.T, addr string, protos ...string) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: protos}) //nolint:gosec // self-signed test cert
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSharedTLSHTTP: browsers (ALPN h2) and clients without ALPN both
// reach HTTP, and their requests see TLS.
func TestSharedTLSHTTP(t *testing.T) {
	addr, _ := startShared(t)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed test cert
		ForceAttemptHTTP2: true,
	}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "tls=true proto=HTTP/2.0" {
		t.Fatalf("h2: %q", body)
	}

	c := dialTLS(t, addr) // no ALPN, as gorilla/websocket and curl --no-alpn
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	if string(body) != "tls=true proto=HTTP/1.1" {
		t.Fatalf("without ALPN: %q", body)
	}
}

// TestSharedTLSTURN: ALPN stun.turn, or a STUN message as the first bytes
// without ALPN, goes to the TURN side with every byte intact.
func TestSharedTLSTURN(t *testing.T) {
	addr, turnSide := startShared(t)
	for _, protos := range [][]string{{ALPNTURN}, nil} {
		c := dialTLS(t, addr, protos...)
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
		if _, err := c.Write(req.Raw); err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 1)
		go func() {
			sc, err := turnSide.Accept()
			if err != nil {
				got <- nil
				return
			}
			defer sc.Close()
			buf := make([]byte, len(req.Raw))
			_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.ReadFull(sc, buf)
			got <- buf
		}()
		select {
		case b := <-got:
			if string(b) != string(req.Raw) {
				t.Fatalf("ALPN %v: TURN side read %x, want %x", protos, b, req.Raw)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ALPN %v: nothing reached the TURN side", protos)
		}
	}
}

// TestSharedTLSCloseEndsHandshakes: a connection that never handshakes
// does not hold Close up.
func TestSharedTLSCloseEndsHandshakes(t *testing.T) {
	share, ln := newShare(t)
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// A byte of a ClientHello, so the handshake is under way when Close comes.
	if _, err := idle.Write([]byte{0x16}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = share.HTTP().Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if _, err := share.TURN().Accept(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("TURN side after close: %v", err)
	}
}

// TestSharedTLSCapsHandshakesPerSource: one source may hold
// maxHandshakesPerIP connections unhandshaken; the next is closed at once
// and counted, and another source is unaffected.
func TestSharedTLSCapsHandshakesPerSource(t *testing.T) {
	share, ln := newShare(t)
	defer share.Close()
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range maxHandshakesPerIP {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	over, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection past the cap: read %v, want EOF (closed at once)", err)
	}
	if share.Refused() != 1 {
		t.Fatalf("refused %d, want 1", share.Refused())
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	other, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // self-signed test cert
	if err != nil {
		t.Fatalf("another source: %v", err)
	}
	other.Close()
}
