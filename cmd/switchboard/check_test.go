package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/turn"
)

// runCheck runs `switchboard check` and returns its exit status and output.
func runCheck(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := mainCheck(append([]string{"-timeout", slower(3 * time.Second).String()}, args...), &out, &errOut)
	t.Logf("switchboard check %s → %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return code, out.String()
}

// lineOf returns the report line of the check whose name starts with name.
func lineOf(t *testing.T, out, mark, name string) string {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, mark+" "+name) {
			if i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "→") {
				return l + "\n" + lines[i+1]
			}
			return l
		}
	}
	t.Fatalf("no %q line for %q in:\n%s", mark, name, out)
	return ""
}

func TestCheckAllGreen(t *testing.T) {
	parallel(t)
	app := startApp(t, nil)
	code, out := runCheck(t, app.httpURL)
	if code != 0 || strings.Contains(out, "✗") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, name := range []string{"Signaling over WebSocket", "Signaling over server-sent events", "Signaling over long-polling",
		"ICE servers handed out", "STUN", "NAT behaviour", "TURN over UDP", "TURN over TCP", "Relay-only call"} {
		lineOf(t, out, "✓", name)
	}
	lineOf(t, out, "✓", "Relay-only call between two peers") // no -echo here

	echo := startApp(t, func(c *config) { c.Echo = true })
	if code, out := runCheck(t, echo.httpURL); code != 0 {
		t.Fatalf("with -echo: exit %d", code)
	} else {
		lineOf(t, out, "✓", "Relay-only call to the echo peer")
	}

	code, out = runCheck(t, "-json", app.httpURL)
	var report struct {
		OK      bool
		Results []struct{ Check, Detail, Hint string }
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil || code != 0 || !report.OK || len(report.Results) != 9 {
		t.Fatalf("json: exit %d, %v, %+v", code, err, report)
	}
}

// TestCheckTakesCredentialsFromARoom: TURN credentials come only with
// joined, so the check joins a room of its own for them. On a server
// closed with -join-secret, without a token it says the join was refused
// and how to pass one; with a token for switchboard-check-* all passes.
func TestCheckTakesCredentialsFromARoom(t *testing.T) {
	parallel(t)
	secret := strings.Repeat("k", 32)
	app := startApp(t, func(c *config) { c.JoinSecret = secret })
	code, out := runCheck(t, app.httpURL)
	if line := lineOf(t, out, "✗", "ICE servers"); code != 1 || !strings.Contains(line, "no room joined") || !strings.Contains(line, "-join-token") {
		t.Fatalf("exit %d, line %q: want the refused join and -join-token named", code, line)
	}
	token, err := signaling.MintJoinToken([]byte(secret), "switchboard-check-*", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := runCheck(t, "-join-token", token, app.httpURL); code != 0 {
		t.Fatalf("with a join token: exit %d\n%s", code, out)
	} else {
		lineOf(t, out, "✓", "ICE servers handed out")
	}
}

func TestCheckReportsWhatIsBroken(t *testing.T) {
	parallel(t)
	app := startApp(t, nil)
	turnPort := strconv.Itoa(app.turnUDP.Port)

	t.Run("wrong TURN secret", func(t *testing.T) {
		code, out := runCheck(t, "-turn-url", "turn:127.0.0.1:"+turnPort+"?transport=udp", "-turn-secret", "not-the-secret", app.httpURL)
		if code != 1 || !strings.Contains(lineOf(t, out, "✗", "TURN over UDP 127.0.0.1:"+turnPort), "secret") {
			t.Fatalf("exit %d", code)
		}
		if strings.Contains(out, "UDP is blocked") {
			t.Fatal("a refused credential reported as blocked UDP")
		}
	})

	t.Run("TURN port closed", func(t *testing.T) {
		closed := freeLoopbackPort(t)
		code, out := runCheck(t, "-turn-url", "turn:127.0.0.1:"+closed, "-turn-secret", "test-secret-0123456789", app.httpURL)
		udp := lineOf(t, out, "✗", "TURN over UDP 127.0.0.1:"+closed)
		tcp := lineOf(t, out, "✗", "TURN over TCP 127.0.0.1:"+closed)
		if code != 1 || !strings.Contains(udp, "did not answer") || !strings.Contains(tcp, "Nothing accepts connections") {
			t.Fatalf("exit %d", code)
		}
	})

	t.Run("TURN/TLS port that accepts and says nothing", func(t *testing.T) {
		// Connections are taken and never answered: not a closed port.
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return // the listener closed
				}
				defer c.Close()
			}
		}()
		code, out := runCheck(t, "-turn-url", "turns:"+ln.Addr().String(), "-turn-secret", "test-secret-0123456789", app.httpURL)
		line := lineOf(t, out, "✗", "TURN over TLS "+ln.Addr().String())
		if code != 1 || !strings.Contains(line, "did not finish a TLS handshake") || strings.Contains(line, "Nothing accepts connections") {
			t.Fatalf("exit %d", code)
		}
	})

	t.Run("relay advertising an address nobody listens on", func(t *testing.T) {
		// A relay whose sockets are on 127.0.0.1 but that hands out
		// 127.0.0.2, where nothing listens: allocations work, datagrams
		// from anyone else never arrive.
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		relay, err := turn.NewServer(turn.Config{
			UDP: []net.PacketConn{udp}, PublicIP: net.IPv4(127, 0, 0, 2), RelayBindAddress: "127.0.0.1",
			RelayPortMin: 40000, RelayPortMax: 60000, Secrets: [][]byte{[]byte("other-relay-secret")},
			AllowLoopbackPeers: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer relay.Close()
		code, out := runCheck(t, "-turn-url", "turn:"+udp.LocalAddr().String()+"?transport=udp", "-turn-secret", "other-relay-secret", app.httpURL)
		if line := lineOf(t, out, "✗", "TURN over UDP "+udp.LocalAddr().String()); code != 1 || !strings.Contains(line, "127.0.0.2") || !strings.Contains(line, "external-ip") {
			t.Fatalf("exit %d", code)
		}
	})

	t.Run("UDP blocked, TCP open", func(t *testing.T) {
		// A relay reachable over TCP only on its port: UDP gets no answer.
		tcp, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		relay, err := turn.NewServer(turn.Config{
			TCP: []net.Listener{tcp}, PublicIP: net.IPv4(127, 0, 0, 1), RelayBindAddress: "127.0.0.1",
			RelayPortMin: 40000, RelayPortMax: 60000, Secrets: [][]byte{[]byte("tcp-relay-secret")},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer relay.Close()
		code, out := runCheck(t, "-turn-url", "turn:"+tcp.Addr().String(), "-turn-secret", "tcp-relay-secret", app.httpURL)
		lineOf(t, out, "✓", "TURN over TCP "+tcp.Addr().String())
		if line := lineOf(t, out, "✗", "TURN over UDP to 127.0.0.1"); code != 1 || !strings.Contains(line, "UDP is blocked") {
			t.Fatalf("exit %d", code)
		}
	})

	t.Run("proxy refusing WebSocket upgrades", func(t *testing.T) {
		target, _ := url.Parse(app.httpURL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.FlushInterval = -1 // stream SSE
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				http.Error(w, "no upgrades here", http.StatusBadRequest)
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		defer front.Close()
		code, out := runCheck(t, front.URL)
		if ws := lineOf(t, out, "✗", "Signaling over WebSocket"); code != 1 || !strings.Contains(ws, "Upgrade") {
			t.Fatalf("exit %d", code)
		}
		lineOf(t, out, "✓", "Signaling over server-sent events")
		lineOf(t, out, "✓", "Signaling over long-polling")
		lineOf(t, out, "✓", "Relay-only call") // signaled by polling
	})
}

func TestCheckExpiredCertificate(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	app := startApp(t, func(c *config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	httpsURL := strings.Replace(app.httpURL, "http://", "https://", 1)
	code, out := runCheck(t, "-ca-file", certFile, httpsURL)
	if line := lineOf(t, out, "✗", "TLS certificate"); code != 1 || !strings.Contains(line, "expired") || !strings.Contains(line, "Renew") {
		t.Fatalf("exit %d", code)
	}
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return strconv.Itoa(port)
}
