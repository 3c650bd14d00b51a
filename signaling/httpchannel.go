package signaling

import (
	"net/http"
	"sync"
)

// httpConn carries a session for one SSE stream served by net/http or
// one long-poll. The request's handler goroutine writes; the session and
// the heartbeat only signal it. A poll that waited long is parked: then
// they hand it to the parkedPoll.
type httpConn struct {
	srv       *Server
	sess      *session
	transport string
	signal    chan struct{} // capacity 1: something is due

	mu     sync.Mutex
	beat   bool        // a heartbeat is due (SSE sends a comment line)
	reason string      // set when the channel must end: a Code*
	parked *parkedPoll // set once a poll is out of net/http
}

// openHTTPChannel attaches a new httpConn to the session p asks for. It
// answers refusals (see admission) itself, returning a nil conn.
// Call done when the request ends. Polls get no "resumed" notice: every
// poll resumes.
func (s *Server) openHTTPChannel(w http.ResponseWriter, r *http.Request, p resumeParams, transport string) (*httpConn, *session, uint64, [][]byte) {
	c := &httpConn{srv: s, transport: transport, signal: make(chan struct{}, 1)}
	sess, cursor, notices, refusal := s.open(c, p, s.clientSource(r), transport != "poll")
	if refusal != nil {
		s.httpError(w, r, admissionStatus(refusal), refusal)
		return nil, nil, 0, nil
	}
	c.sess = sess
	s.metrics.connections.WithLabelValues(transport).Inc()
	return c, sess, cursor, notices
}

func (c *httpConn) done() {
	c.sess.detach(c)
	c.srv.metrics.connections.WithLabelValues(c.transport).Dec()
}

func (c *httpConn) poke() {
	c.mu.Lock()
	parked := c.parked
	c.mu.Unlock()
	if parked != nil {
		parked.due()
		return
	}
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// wake implements channel.
func (c *httpConn) wake() { c.poke() }

// heartbeat implements channel. A poll only checks, once parked, that
// its client is still there: it is never held longer than PollWait, well
// inside any proxy's idle cut.
func (c *httpConn) heartbeat() {
	c.mu.Lock()
	c.beat = true
	parked := c.parked
	c.mu.Unlock()
	if parked != nil {
		parked.gone()
		return
	}
	c.poke()
}

// close implements channel; the handler sends the notice and returns.
func (c *httpConn) close(_ int, reason string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
	c.poke()
}

// due reports, and clears, a pending heartbeat, and why the channel must
// end, if it must.
func (c *httpConn) due() (beat bool, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	beat, c.beat = c.beat, false
	return beat, c.reason
}

func (c *httpConn) closedFor() string {
	_, reason := c.due()
	return reason
}
