package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestTLSServingAndReload: with -tls-cert/-tls-key the binary serves HTTPS
// (HTTP/2) and WSS itself, and a reload swaps the certificate for new
// connections while a session already up keeps going.
func TestTLSServingAndReload(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeTestCert(t, certFile, keyFile)
	app := startApp(t, func(c *config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	base := "https://" + strings.TrimPrefix(app.httpURL, "http://")

	trust := func() *tls.Config {
		pem, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		return &tls.Config{RootCAs: pool}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: trust(), ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" {
		t.Fatalf("HTTPS spoke %s, want HTTP/2.0", resp.Proto)
	}

	d := websocket.Dialer{TLSClientConfig: trust(), HandshakeTimeout: e2eTimeout}
	ws, _, err := d.Dial("wss"+strings.TrimPrefix(base, "https")+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var welcome struct{ Type string }
	if err := ws.ReadJSON(&welcome); err != nil || welcome.Type != "welcome" {
		t.Fatalf("wss welcome: %+v %v", welcome, err)
	}
	oldSerial := resp.TLS.PeerCertificates[0].SerialNumber

	writeTestCert(t, certFile, keyFile) // a renewal: new key, new serial
	// Reloads are handled one at a time: once a second one has been taken,
	// the first is done.
	app.reload <- struct{}{}
	app.reload <- struct{}{}
	fresh := &http.Client{Transport: &http.Transport{TLSClientConfig: trust(), DisableKeepAlives: true}}
	resp, err = fresh.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS.PeerCertificates[0].SerialNumber.Cmp(oldSerial) == 0 {
		t.Fatal("new connections still get the old certificate")
	}
	// The session from before the reload still answers.
	if err := ws.WriteJSON(map[string]any{"type": "ping", "id": 1}); err != nil {
		t.Fatal(err)
	}
	var pong map[string]any
	if err := ws.ReadJSON(&pong); err != nil || pong["type"] != "pong" {
		raw, _ := json.Marshal(pong)
		t.Fatalf("after reload: %s %v", raw, err)
	}
}
