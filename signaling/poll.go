package signaling

import (
	"bytes"
	"net/http"
	"sync"
	"time"
)

// pollConn carries a session for one long-poll request.
type pollConn struct {
	signal chan struct{} // capacity 1
	mu     sync.Mutex
	reason string
}

func (c *pollConn) wake() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// heartbeat implements channel: a poll is never held longer than PollWait,
// well inside any proxy's idle cut.
func (c *pollConn) heartbeat() {}

func (c *pollConn) close(_ int, reason string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
	c.wake()
}

func (c *pollConn) closedFor() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// pollMaxBytes caps one poll answer; the rest waits for the next poll.
const pollMaxBytes = 256 << 10

func (s *Server) servePoll(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		s.refuseOrigin(w, r)
		return
	}
	p, perr := parseResume(r, false)
	if perr != nil {
		s.httpError(w, http.StatusBadRequest, perr)
		return
	}
	c := &pollConn{signal: make(chan struct{}, 1)}
	sess, cursor, notices, ok := s.open(c, p.token, p.after, p.fromLast)
	if !ok {
		s.httpError(w, http.StatusServiceUnavailable, newError(CodeShutdown, "%s", closeMessages[CodeShutdown]))
		return
	}
	if sess.token == p.token {
		// Resumed: a poll answers the events only (docs/protocol.md). A
		// resumed notice would answer every poll at once, and a client
		// would never be held but poll in a busy loop.
		notices = nil
	}
	s.metrics.connections.WithLabelValues("poll").Inc()
	defer s.metrics.connections.WithLabelValues("poll").Dec()
	defer sess.detach(c)

	body := []byte{'['}
	for _, n := range notices {
		body = append(append(body, n...), ',')
	}
	batchp := eventBatches.Get().(*[]Event)
	defer func() { clear(*batchp); eventBatches.Put(batchp) }()
	read := func() {
		for len(body) < pollMaxBytes {
			batch, err := sess.log.Read(cursor, (*batchp)[:0], eventBatch)
			if err != nil || len(batch) == 0 {
				return
			}
			for _, ev := range batch {
				body = append(appendEvent(body, ev), ',')
				cursor = ev.Seq
			}
		}
	}
	read()
	if len(body) == 1 {
		wait := time.NewTimer(s.cfg.PollWait)
		defer wait.Stop()
	hold:
		for len(body) == 1 && c.closedFor() == "" {
			select {
			case <-c.signal:
				read()
			case <-wait.C:
				break hold
			case <-r.Context().Done():
				return
			}
		}
	}
	if reason := c.closedFor(); reason != "" && len(body) == 1 {
		status := http.StatusConflict
		if reason != CodeReplaced {
			status = http.StatusGone
		}
		s.httpError(w, status, newError(reason, "%s", closeMessages[reason]))
		return
	}
	body = append(bytes.TrimSuffix(body, []byte{','}), ']')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, err := w.Write(body)
	if err == nil {
		sess.taken(c, cursor)
	}
}
