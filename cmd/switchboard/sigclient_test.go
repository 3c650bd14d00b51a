package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// sigClient is a protocol client for the tests over any channel
// (ws, sse, poll), able to drop its channel and resume on another one. A
// reader goroutine per channel feeds frames, dropping events already seen
// (by seq) and failing the test on a gap; writes are serialised because
// pion calls OnICECandidate from its own goroutines.
type sigClient struct {
	t       *testing.T
	base    string // http://host:port
	frames  chan map[string]any
	welcome map[string]any
	joined  map[string]any // the last joined event: its iceServers carry the TURN credentials
	ended   error          // why the last channel stopped; read after frames is closed

	writeMu   sync.Mutex
	mu        sync.Mutex
	transport string
	token     string
	lastSeq   int
	ws        *websocket.Conn
	cancel    context.CancelFunc
	done      chan struct{} // closed when the current channel's reader ends
	cutting   bool          // the channel is being cut on purpose: keep frames open
	dups      int           // events dropped as already seen: a resume that replayed too much
}

// dialSignaling opens a WebSocket session at a ws:// URL.
func dialSignaling(t *testing.T, wsURL string) *sigClient {
	t.Helper()
	return dialOn(t, "http"+strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws"), "/v1/ws"), "ws")
}

// dialOn opens a new session on transport and reads its welcome.
func dialOn(t *testing.T, base, transport string) *sigClient {
	t.Helper()
	c := &sigClient{t: t, base: base, frames: make(chan map[string]any, 256)}
	c.open(transport, false)
	t.Cleanup(c.close)
	c.welcome = c.next("welcome")
	return c
}

// open starts transport's reader; with resume it asks for the events after
// the last one seen.
func (c *sigClient) open(transport string, resume bool) {
	c.t.Helper()
	q := ""
	if resume {
		q = fmt.Sprintf("?token=%s&after=%d", c.token, c.lastSeq)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	c.transport, c.cancel, c.done = transport, cancel, make(chan struct{})
	done := c.done
	c.mu.Unlock()
	var read func() error
	switch transport {
	case "ws":
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, strings.Replace(c.base, "http", "ws", 1)+"/v1/ws"+q, nil)
		if err != nil {
			cancel()
			c.t.Fatalf("dial ws: %v", err)
		}
		c.mu.Lock()
		c.ws = ws
		c.mu.Unlock()
		context.AfterFunc(ctx, func() { ws.Close() })
		read = func() error { return c.readWS(ws) }
	case "sse":
		read = func() error { return c.readSSE(ctx, q) }
	case "poll":
		read = func() error { return c.readPoll(ctx, q) }
	default:
		c.t.Fatalf("unknown transport %q", transport)
	}
	go func() {
		err := read()
		c.mu.Lock()
		c.ended = err
		cutting := c.cutting
		c.mu.Unlock()
		if !cutting {
			close(c.frames)
		}
		close(done)
	}()
}

// cut drops the channel the way a network failure does: no goodbye.
func (c *sigClient) cut() {
	c.mu.Lock()
	c.cutting = true
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	cancel()
	<-done
	c.mu.Lock()
	c.cutting = false
	c.mu.Unlock()
}

// willEnd keeps frames open for an end of the channel the server is
// about to make, and returns what waits for it and reports why it ended.
func (c *sigClient) willEnd() func() error {
	c.mu.Lock()
	c.cutting = true
	done := c.done
	c.mu.Unlock()
	return func() error {
		c.t.Helper()
		select {
		case <-done:
		case <-time.After(e2eTimeout):
			c.t.Fatal("the server did not end the channel")
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.cutting = false
		return c.ended
	}
}

// resumeOn continues the session on transport after a cut.
func (c *sigClient) resumeOn(transport string) {
	c.t.Helper()
	c.open(transport, true)
}

func (c *sigClient) close() {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	cancel()
	<-done
	for range c.frames { // the reader closed it
	}
}

// deliver passes f on unless it is a duplicate or a notice about the
// channel; a gap in seq fails the test.
func (c *sigClient) deliver(f map[string]any) {
	seq, numbered := f["seq"].(float64)
	if !numbered {
		if f["type"] == "resumed" {
			return
		}
		c.frames <- f
		return
	}
	c.mu.Lock()
	last := c.lastSeq
	if int(seq) <= last {
		c.dups++
		c.mu.Unlock()
		return // already handled
	}
	c.lastSeq = int(seq)
	switch f["type"] {
	case "welcome":
		c.token, _ = f["token"].(string)
	case "joined":
		c.joined = f
	}
	c.mu.Unlock()
	if int(seq) != last+1 {
		c.t.Errorf("seq jumped from %d to %d: events lost", last, int(seq))
	}
	c.frames <- f
}

func (c *sigClient) readWS(ws *websocket.Conn) error {
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		var f map[string]any
		if json.Unmarshal(b, &f) == nil {
			c.deliver(f)
		}
	}
}

// readSSE reads event streams, reconnecting with Last-Event-ID when the
// server ends one at its maximum age, as EventSource does.
func (c *sigClient) readSSE(ctx context.Context, q string) error {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/sse"+q, nil)
		c.mu.Lock()
		if c.token != "" && c.lastSeq > 0 {
			req.URL.RawQuery = "token=" + c.token
			req.Header.Set("Last-Event-ID", fmt.Sprint(c.lastSeq))
		}
		c.mu.Unlock()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("sse: status %d", resp.StatusCode)
		}
		sc := bufio.NewScanner(resp.Body)
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "" && data != nil:
				var f map[string]any
				if json.Unmarshal([]byte(strings.Join(data, "\n")), &f) == nil {
					c.deliver(f)
				}
				data = nil
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[6:])
			}
		}
		resp.Body.Close()
	}
	return ctx.Err()
}

func (c *sigClient) readPoll(ctx context.Context, q string) error {
	for ctx.Err() == nil {
		if q == "" {
			c.mu.Lock()
			if c.token != "" {
				q = fmt.Sprintf("?token=%s&after=%d", c.token, c.lastSeq)
			}
			c.mu.Unlock()
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/poll"+q, nil)
		q = ""
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			var f map[string]any
			if json.Unmarshal(b, &f) != nil {
				f = map[string]any{"status": resp.StatusCode, "body": string(b)}
			}
			c.frames <- f
			return fmt.Errorf("poll: status %d", resp.StatusCode)
		}
		var fs []map[string]any
		if err := json.Unmarshal(b, &fs); err != nil {
			return err
		}
		for _, f := range fs {
			c.deliver(f)
		}
	}
	return ctx.Err()
}

// send writes one message on the current channel: a WebSocket frame, or a
// POST for SSE and polling, which must be accepted.
func (c *sigClient) send(v any) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	transport, ws, token := c.transport, c.ws, c.token
	c.mu.Unlock()
	if transport == "ws" {
		if err := ws.WriteJSON(v); err != nil {
			c.t.Errorf("signaling write: %v", err)
		}
		return
	}
	body, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPost, c.base+"/v1/send", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Errorf("signaling post: %v", err)
		return
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(ans)) != "[null]" {
		c.t.Errorf("signaling post %s: %d %s", body, resp.StatusCode, ans)
	}
}

func (c *sigClient) next(typ string) map[string]any {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatalf("signaling closed while waiting for %q", typ)
		}
		if f["type"] != typ {
			c.t.Fatalf("got %v, want %q", f, typ)
		}
		return f
	case <-time.After(e2eTimeout):
		c.t.Fatalf("timed out waiting for %q", typ)
	}
	return nil
}
