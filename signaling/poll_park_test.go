package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

type pollAnswer struct {
	status int
	frames []frame
	closed bool // Connection: close
	took   time.Duration
	err    error
}

// pollAsync starts one GET /v1/poll; its answer arrives on the channel.
func pollAsync(base, query string) <-chan pollAnswer {
	out := make(chan pollAnswer, 1)
	go func() {
		start := time.Now()
		resp, err := http.Get(base + "/v1/poll?" + query)
		if err != nil {
			out <- pollAnswer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		a := pollAnswer{status: resp.StatusCode, closed: resp.Close, took: time.Since(start)}
		if resp.StatusCode == http.StatusOK {
			a.err = json.Unmarshal(b, &a.frames)
		} else {
			var f frame
			a.err = json.Unmarshal(b, &f)
			a.frames = []frame{f}
		}
		out <- a
	}()
	return out
}

func (a pollAnswer) String() string {
	b, _ := json.Marshal(a.frames)
	return strings.Join([]string{http.StatusText(a.status), string(b), a.took.String()}, " ")
}

// waitParked waits until token's poll has left net/http; parking has no
// event a test can wait on, so like waitAttached it polls (eventually).
func waitParked(t *testing.T, srv *Server, token string) {
	t.Helper()
	eventually(t, waitFor, "the poll parked", func() error {
		if s := srv.lookup(token); s == nil || !s.parkedPoll() {
			return errors.New("not parked")
		}
		return nil
	})
}

// parkedPoll reports whether the session's channel is a poll parked out
// of net/http.
func (s *session) parkedPoll() bool {
	c, ok := s.attached().(*httpConn)
	if !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parked != nil
}

// newPollSession opens a session over polling and returns its token.
func newPollSession(t *testing.T, base string) string {
	t.Helper()
	_, fs := poll(t, base, "")
	if len(fs) != 1 || fs[0].str("type") != "welcome" {
		t.Fatalf("first poll: %v", fs)
	}
	return fs[0].str("token")
}

// TestParkedPoll: a poll parked out of net/http answers as a held one
// does (events, [] at PollWait, 409 when replaced), with Connection:
// close, since net/http cannot take the connection back.
func TestParkedPoll(t *testing.T) {
	const wait = pollParkAfter + 500*time.Millisecond
	srv, wsURL := startServer(t, Config{PollWait: wait})
	base := httpBase(wsURL)

	t.Run("event", func(t *testing.T) {
		token := newPollSession(t, base)
		ans := pollAsync(base, "token="+token+"&after=1")
		waitParked(t, srv, token)
		postOK(t, base, token, frame{"type": "ping"})
		a := <-ans
		if a.err != nil || a.status != http.StatusOK || len(a.frames) != 1 || a.frames[0].str("type") != "pong" || !a.closed {
			t.Fatalf("parked poll: %v, err %v, close %v", a, a.err, a.closed)
		}
		// The pong was taken: the next poll does not see it again.
		ans = pollAsync(base, "token="+token+"&after="+itoa(seqOf(a.frames[0])))
		waitParked(t, srv, token)
		postOK(t, base, token, frame{"type": "ping", "id": "2"})
		if a = <-ans; a.status != http.StatusOK || len(a.frames) != 1 || a.frames[0].str("re") != "2" {
			t.Fatalf("next poll: %v", a)
		}
		// Two polls in a row carried events: the session is busy, so
		// its next poll stays in net/http for pollParkBusy, longer than
		// PollWait here, and keeps its connection.
		a = <-pollAsync(base, "token="+token+"&after="+itoa(seqOf(a.frames[0])))
		if a.err != nil || a.status != http.StatusOK || len(a.frames) != 0 || a.closed {
			t.Fatalf("busy session's next poll: %v, err %v, close %v; want [] on a kept connection", a, a.err, a.closed)
		}
	})
	t.Run("empty", func(t *testing.T) {
		token := newPollSession(t, base)
		a := <-pollAsync(base, "token="+token+"&after=1")
		if a.err != nil || a.status != http.StatusOK || len(a.frames) != 0 || a.took < wait || !a.closed {
			t.Fatalf("empty parked poll: %v, want [] after %s", a, wait)
		}
	})
	t.Run("replaced", func(t *testing.T) {
		token := newPollSession(t, base)
		older := pollAsync(base, "token="+token+"&after=1")
		waitParked(t, srv, token)
		newer := pollAsync(base, "token="+token+"&after=1")
		if a := <-older; a.status != http.StatusConflict || a.frames[0].str("code") != wire.CodeReplaced {
			t.Fatalf("older poll: %v", a)
		}
		postOK(t, base, token, frame{"type": "ping"})
		if a := <-newer; a.status != http.StatusOK || len(a.frames) != 1 || a.frames[0].str("type") != "pong" {
			t.Fatalf("newer poll: %v", a)
		}
	})
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestParkedPollClientGone: nobody reads a parked poll's socket, yet a
// client that closed it detaches its session within two heartbeats.
func TestParkedPollClientGone(t *testing.T) {
	const ping = 300 * time.Millisecond
	srv, wsURL := startServer(t, Config{PingInterval: ping, PollWait: time.Minute})
	base := httpBase(wsURL)
	token := newPollSession(t, base)
	addr := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /v1/poll?token=" + token + "&after=1 HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	waitParked(t, srv, token)
	conn.Close()
	eventually(t, 2*ping+250*time.Millisecond, "the session detached after its client left", func() error {
		if srv.lookup(token).attached() != nil {
			return errors.New("still attached")
		}
		return nil
	})
}

// TestParkedPollShutdown: Shutdown answers parked polls 410 shutdown and
// waits for what it started (goleak checks the rest).
func TestParkedPollShutdown(t *testing.T) {
	srv, wsURL := startServer(t, Config{PollWait: time.Minute})
	base := httpBase(wsURL)
	answers := make([]<-chan pollAnswer, 10)
	tokens := make([]string, len(answers))
	for i := range answers {
		tokens[i] = newPollSession(t, base)
		answers[i] = pollAsync(base, "token="+tokens[i]+"&after=1")
	}
	for _, token := range tokens {
		waitParked(t, srv, token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i, ans := range answers {
		if a := <-ans; a.status != http.StatusGone || a.frames[0].str("code") != wire.CodeShutdown {
			t.Errorf("poll %d: %v", i, a)
		}
	}
}
