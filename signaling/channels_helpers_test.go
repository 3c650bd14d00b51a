package signaling

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// httpBase turns startServer's ws:// URL into the server's http:// base.
func httpBase(wsURL string) string {
	return "http" + strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws"), "/v1/ws")
}

// sseStream reads one server-sent event stream.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
	events chan sseEvent // closed at end of stream
}

type sseEvent struct {
	id   string
	data frame
	raw  string
}

// openSSE opens GET /v1/sse with query (may be "") and optional
// Last-Event-ID, failing unless the server answers 200.
func openSSE(t *testing.T, base, query, lastEventID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/sse?"+query, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("sse: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("sse: status %d: %s", resp.StatusCode, b)
	}
	s := &sseStream{t: t, resp: resp, cancel: cancel, events: make(chan sseEvent, 1024)}
	done := make(chan struct{})
	go func() { defer close(done); s.parse() }()
	t.Cleanup(func() { s.close(); <-done })
	return s
}

func (s *sseStream) close() { s.cancel(); s.resp.Body.Close() }

// parse follows the event-stream format: fields until a blank line, data
// lines joined with "\n", comments ignored.
func (s *sseStream) parse() {
	defer close(s.events)
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var id string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				raw := strings.Join(data, "\n")
				var f frame
				if err := json.Unmarshal([]byte(raw), &f); err != nil {
					f = frame{"type": "invalid JSON: " + err.Error()}
				}
				s.events <- sseEvent{id: id, data: f, raw: raw}
			}
			id, data = "", nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:])
		}
	}
}

func (s *sseStream) next() sseEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatal("sse stream ended")
		}
		return ev
	case <-time.After(waitFor):
		s.t.Fatal("no sse event in time")
	}
	return sseEvent{}
}

func (s *sseStream) expect(typ string) frame {
	s.t.Helper()
	ev := s.next()
	if ev.data.str("type") != typ {
		s.t.Fatalf("got %s, want type %q", ev.raw, typ)
	}
	if seq, ok := ev.data["seq"]; ok && ev.id != strconv.Itoa(int(seq.(float64))) {
		s.t.Fatalf("event id %q does not match seq in %s", ev.id, ev.raw)
	}
	return ev.data
}

// expectEnd waits for the server to end the stream.
func (s *sseStream) expectEnd() {
	s.t.Helper()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return
			}
			s.t.Logf("before end: %s", ev.raw)
		case <-time.After(waitFor):
			s.t.Fatal("stream did not end")
		}
	}
}

// poll makes one GET /v1/poll and returns status and decoded body.
func poll(t *testing.T, base, query string) (int, []frame) {
	t.Helper()
	resp, err := http.Get(base + "/v1/poll?" + query)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var f frame
		_ = json.Unmarshal(b, &f)
		return resp.StatusCode, []frame{f}
	}
	var fs []frame
	if err := json.Unmarshal(b, &fs); err != nil {
		t.Fatalf("poll body %q: %v", b, err)
	}
	return resp.StatusCode, fs
}

// post sends body to /v1/send with token and returns status and the
// decoded answer.
func post(t *testing.T, base, token, body string) (int, json.RawMessage) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/send", bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// postOK posts and fails unless every message was accepted.
func postOK(t *testing.T, base, token string, msgs ...any) {
	t.Helper()
	b, _ := json.Marshal(msgs)
	status, ans := post(t, base, token, string(b))
	var results []json.RawMessage
	if status != http.StatusOK || json.Unmarshal(ans, &results) != nil || len(results) != len(msgs) {
		t.Fatalf("post %s: status %d answer %s", b, status, ans)
	}
	for i, r := range results {
		if string(r) != "null" {
			t.Fatalf("post %s: message %d refused: %s", b, i, r)
		}
	}
}

func seqOf(f frame) int {
	n, _ := f["seq"].(float64)
	return int(n)
}

// lockedLog collects log output from many goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
