package main

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

func TestHealthzAndDemoPage(t *testing.T) {
	parallel(t)
	app := startApp(t, nil)
	if body := get(t, app.httpURL+"/healthz"); !strings.Contains(body, `"ok"`) {
		t.Fatalf("healthz: %s", body)
	}
	if body := get(t, app.httpURL+"/"); !strings.Contains(body, "<title>") {
		t.Fatalf("demo page: %.200s", body)
	}
}

// TestGracefulShutdown: stopping the app closes sessions with 1001 and
// run returns cleanly within the shutdown deadline.
func TestGracefulShutdown(t *testing.T) {
	parallel(t)
	app := startApp(t, func(c *config) { c.ShutdownTimeout = 5 * time.Second })
	c := dialSignaling(t, app.wsURL)
	c.send(map[string]any{"type": "join", "room": "bye"})
	c.next("joined")
	start := time.Now()
	if err := app.stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	for range c.frames { // drain until the server closes
	}
	if ce, ok := c.ended.(*websocket.CloseError); !ok || ce.Code != websocket.CloseGoingAway || ce.Text != "shutdown" {
		t.Fatalf("connection ended with %v, want close 1001 shutdown", c.ended)
	}
	if _, _, err := websocket.DefaultDialer.Dial(app.wsURL, nil); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}

// TestShutdownEndsStreamsAtOnce: event streams and held polls, which the
// HTTP server's shutdown waits for, end as soon as the app stops, well
// within the deadline.
func TestShutdownEndsStreamsAtOnce(t *testing.T) {
	parallel(t)
	app := startApp(t, func(c *config) { c.ShutdownTimeout = 20 * time.Second })
	sse, poll := dialOn(t, app.httpURL, "sse"), dialOn(t, app.httpURL, "poll")
	start := time.Now()
	if err := app.stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v with a stream and a poll open", d)
	}
	var last map[string]any
	for f := range sse.frames {
		last = f
	}
	if last == nil || last["code"] != "shutdown" {
		t.Errorf("event stream ended with %v, want a shutdown notice", last)
	}
	// A poll ends with the notice, or, if it was between requests, finds
	// the server gone.
	for range poll.frames {
	}
	if poll.ended == nil {
		t.Error("poll loop did not end")
	}
}

// TestPprofIsOptIn: the profiler answers on its own listener when asked
// for, and never on the public one.
func TestPprofIsOptIn(t *testing.T) {
	parallel(t)
	app := startApp(t, func(c *config) { c.PprofAddr = "127.0.0.1:0" })
	resp, err := http.Get(app.httpURL + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("pprof is served on the public listener")
	}
	addr, stop, err := servePprof("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if body := get(t, "http://"+addr+"/debug/pprof/"); !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof index: %.200s", body)
	}
}

// TestMetricsNotPublic: /metrics on the public port answers this host
// only, never a request through a proxy; -metrics-addr moves it to a
// listener of its own.
func TestMetricsNotPublic(t *testing.T) {
	parallel(t)
	app := startApp(t, nil)
	get(t, app.httpURL+"/metrics") // from 127.0.0.1, directly
	req, _ := http.NewRequest(http.MethodGet, app.httpURL+"/metrics", nil)
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("proxied /metrics: %d, want 403", resp.StatusCode)
	}

	reg := prometheus.NewRegistry()
	addr, stop, err := serveMetrics("127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	get(t, "http://"+addr+"/metrics")
	stop()
	http.DefaultClient.CloseIdleConnections()
	moved := startApp(t, func(c *config) { c.MetricsAddr = "127.0.0.1:0" })
	resp, err = http.Get(moved.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics still on the public port with -metrics-addr: %d", resp.StatusCode)
	}
}

// TestPublicURLReachesTheServer: -public-url decides which Host names are
// served, for the demo page and the protocol alike.
func TestPublicURLReachesTheServer(t *testing.T) {
	parallel(t)
	status := func(app *testApp, path, host string) int {
		req, _ := http.NewRequest(http.MethodGet, app.httpURL+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	plain := startApp(t, nil)
	named := startApp(t, func(c *config) { c.PublicURLs = "https://meet.example" })
	for _, path := range []string{"/", "/v1/poll", "/healthz", "/readyz"} {
		if got := status(plain, path, "meet.example"); got != http.StatusMisdirectedRequest {
			t.Errorf("%s for meet.example without -public-url: %d, want 421", path, got)
		}
		if got := status(named, path, "meet.example"); got != http.StatusOK {
			t.Errorf("%s for meet.example with -public-url: %d, want 200", path, got)
		}
	}
	// A DNS rebinding page on this machine reaches /metrics from loopback
	// under its own name: refused before the loopback check.
	if got := status(plain, "/metrics", "rebind.example"); got != http.StatusMisdirectedRequest {
		t.Errorf("/metrics for rebind.example: %d, want 421", got)
	}
	// A load balancer's HTTP/1.0 check sends no Host.
	conn, err := net.Dial("tcp", strings.TrimPrefix(plain.httpURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("GET /readyz HTTP/1.0\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP/1.0 /readyz without Host: %v %v", resp, err)
	}
	resp.Body.Close()
}
