package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHealthzAndDemoPage(t *testing.T) {
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
