package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/pion/logging"
	"github.com/pion/turn/v4"
)

// TestTURNOverTLSOnHTTPSPort: with -tls-cert the HTTPS port carries TURN
// over TLS too. joined lists turns: on that port, and a TURN client
// allocates there with ALPN stun.turn and without ALPN, beside the page
// and WSS on the same port.
func TestTURNOverTLSOnHTTPSPort(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeTestCert(t, certFile, keyFile)
	app := startApp(t, func(c *config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	hostport := strings.TrimPrefix(app.httpURL, "http://")
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)

	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: e2eTimeout}
	ws, _, err := d.Dial("wss://"+hostport+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var welcome, joined map[string]any
	if err := ws.ReadJSON(&welcome); err != nil {
		t.Fatal(err)
	}
	// TURN credentials come with joined (issue 18).
	if err := ws.WriteJSON(map[string]any{"type": "join", "room": "tls-turn"}); err != nil {
		t.Fatal(err)
	}
	if err := ws.ReadJSON(&joined); err != nil || joined["type"] != "joined" {
		t.Fatalf("joined: %v %v", joined, err)
	}
	servers, err := labICEServers(welcome, joined)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("turns:%s?transport=tcp", hostport)
	var user, pass string
	for _, s := range servers {
		for _, u := range s.URLs {
			if u == want {
				user, pass = s.Username, s.Credential.(string)
			}
		}
	}
	if user == "" {
		t.Fatalf("joined lacks %s: %v", want, joined["iceServers"])
	}
	for _, alpn := range [][]string{{"stun.turn"}, nil} {
		conn, err := tls.Dial("tcp", hostport, &tls.Config{RootCAs: pool, NextProtos: alpn})
		if err != nil {
			t.Fatal(err)
		}
		client, err := turn.NewClient(&turn.ClientConfig{
			STUNServerAddr: hostport, TURNServerAddr: hostport, Conn: turn.NewSTUNConn(conn),
			Username: user, Password: pass, LoggerFactory: logging.NewDefaultLoggerFactory(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Listen(); err != nil {
			t.Fatal(err)
		}
		relayed, err := client.Allocate()
		if err != nil {
			t.Fatalf("ALPN %v: allocate over TLS on the HTTPS port: %v", alpn, err)
		}
		relayed.Close()
		client.Close()
		conn.Close()
	}
}
