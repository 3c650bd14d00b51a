package check

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// welcome is what the checks need from the server's first event (its
// iceServers are STUN only: the checks take theirs from joined).
type welcome struct {
	Type    string `json:"type"`
	Session string `json:"session"`
	Token   string `json:"token"`
}

type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// sigConn is one signaling session seen from the client side.
type sigConn interface {
	send(msg any) error
	recv(ctx context.Context) (json.RawMessage, error)
	close()
}

// checkChannels opens a session on each channel and ends it again. It
// returns the first welcome received, for the checks after it.
func checkChannels(ctx context.Context, cfg Config, u *url.URL) ([]Result, *welcome) {
	var results []Result
	var first *welcome
	for _, ch := range []struct {
		name string
		open func(context.Context, Config, *url.URL) (sigConn, *welcome, error)
		hint string
	}{
		{"Signaling over WebSocket", openWS, "Browsers fall back to SSE or polling, with more latency. " +
			"A proxy in front of the server is refusing the upgrade: forward the Upgrade and Connection headers for /v1/ws (nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\")."},
		{"Signaling over server-sent events", openSSE, "A proxy is buffering or cutting the event stream: disable buffering for /v1/sse (nginx: proxy_buffering off) and allow responses longer than 30 s."},
		{"Signaling over long-polling", openPoll, "Long-polling is the last fallback: check that /v1/poll and /v1/send reach the server and that requests may last 25 s."},
	} {
		step, cancel := context.WithTimeout(ctx, cfg.Timeout)
		start := time.Now()
		conn, w, err := ch.open(step, cfg, u)
		cancel()
		if err != nil {
			results = append(results, fail(ch.name, ch.hint, "%v", err))
			continue
		}
		results = append(results, pass(ch.name, "session opened in %s", roundMS(time.Since(start))))
		_ = conn.send(map[string]any{"type": "bye"})
		conn.close()
		if first == nil {
			first = w
		}
	}
	return results, first
}

func roundMS(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func endpoint(u *url.URL, scheme, path string) string {
	e := *u
	e.Scheme, e.Path, e.RawQuery = scheme, path, ""
	return e.String()
}

// wsConn is a session over WebSocket.
type wsConn struct{ c *websocket.Conn }

func openWS(ctx context.Context, cfg Config, u *url.URL) (sigConn, *welcome, error) {
	scheme := "ws"
	if u.Scheme == "https" {
		scheme = "wss"
	}
	c, resp, err := cfg.ws.DialContext(ctx, endpoint(u, scheme, "/v1/ws"), http.Header{"Origin": {cfg.Origin}})
	if err != nil {
		if resp != nil {
			return nil, nil, fmt.Errorf("upgrade refused: HTTP %d", resp.StatusCode)
		}
		return nil, nil, err
	}
	conn := &wsConn{c: c}
	w, err := readWelcome(ctx, conn)
	if err != nil {
		conn.close()
		return nil, nil, err
	}
	return conn, w, nil
}

func (w *wsConn) send(msg any) error { return w.c.WriteJSON(msg) }

func (w *wsConn) recv(ctx context.Context) (json.RawMessage, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = w.c.SetReadDeadline(d)
	}
	_, data, err := w.c.ReadMessage()
	return data, err
}

func (w *wsConn) close() { _ = w.c.Close() }

func readWelcome(ctx context.Context, c sigConn) (*welcome, error) {
	raw, err := c.recv(ctx)
	if err != nil {
		return nil, err
	}
	var w welcome
	if err := json.Unmarshal(raw, &w); err != nil || w.Type != "welcome" || w.Token == "" {
		return nil, fmt.Errorf("%w: first event %.80s", errNoWelcome, raw)
	}
	return &w, nil
}

// httpSession posts upstream with the session's token.
type httpSession struct {
	cfg   Config
	u     *url.URL
	token string
}

func (h *httpSession) send(msg any) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint(h.u, h.u.Scheme, "/v1/send"), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", h.cfg.Origin)
	resp, err := h.cfg.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var results []*serverError
	if resp.StatusCode != http.StatusOK || json.Unmarshal(answer, &results) != nil || len(results) != 1 {
		return fmt.Errorf("send answered %d %.120s", resp.StatusCode, answer)
	}
	if results[0] != nil {
		return results[0] // errors for posted messages come only in the answer
	}
	return nil
}

// serverError is an error frame the server answered a request with.
type serverError struct{ Code, Message string }

func (e *serverError) Error() string { return e.Code + ": " + e.Message }

// sseConn reads the event stream; only the welcome is needed of it.
type sseConn struct {
	httpSession
	body io.ReadCloser
	r    *bufio.Reader
}

func openSSE(ctx context.Context, cfg Config, u *url.URL) (sigConn, *welcome, error) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, endpoint(u, u.Scheme, "/v1/sse"), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Origin", cfg.Origin)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := cfg.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		return nil, nil, fmt.Errorf("answered HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := &sseConn{httpSession: httpSession{cfg: cfg, u: u}, body: resp.Body, r: bufio.NewReader(resp.Body)}
	stop := context.AfterFunc(ctx, func() { resp.Body.Close() }) // a stream that says nothing
	w, err := readWelcome(ctx, c)
	stop()
	if err != nil {
		c.close()
		return nil, nil, err
	}
	c.token = w.Token
	return c, w, nil
}

// recv returns the data of the next event.
func (s *sseConn) recv(context.Context) (json.RawMessage, error) {
	var data []byte
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0 && data != nil:
			return data, nil
		case bytes.HasPrefix(line, []byte("data:")):
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
		}
	}
}

func (s *sseConn) close() { _ = s.body.Close() }

// pollConn is a session over long-polling.
type pollConn struct {
	httpSession
	after  int
	queued []json.RawMessage
}

func openPoll(ctx context.Context, cfg Config, u *url.URL) (sigConn, *welcome, error) {
	c := &pollConn{httpSession: httpSession{cfg: cfg, u: u}}
	w, err := readWelcome(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	c.token = w.Token
	return c, w, nil
}

func (p *pollConn) recv(ctx context.Context) (json.RawMessage, error) {
	for len(p.queued) == 0 {
		q := url.Values{}
		if p.token != "" {
			q.Set("token", p.token)
			q.Set("after", fmt.Sprint(p.after))
		}
		e := endpoint(p.u, p.u.Scheme, "/v1/poll")
		if len(q) > 0 {
			e += "?" + q.Encode()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Origin", p.cfg.Origin)
		resp, err := p.cfg.http.Do(req)
		if err != nil {
			return nil, err
		}
		var events []json.RawMessage
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&events)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return nil, fmt.Errorf("poll answered HTTP %d (%v)", resp.StatusCode, err)
		}
		for _, e := range events {
			var s struct {
				Seq int `json:"seq"`
			}
			if json.Unmarshal(e, &s) == nil && s.Seq > p.after {
				p.after = s.Seq
			}
		}
		p.queued = events
	}
	e := p.queued[0]
	p.queued = p.queued[1:]
	return e, nil
}

func (p *pollConn) close() {}
