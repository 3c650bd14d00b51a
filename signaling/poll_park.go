package signaling

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// pollParkAfter is how long a long-poll waits inside net/http before it
// is parked: taken out of net/http, whose goroutines, buffers and parsed
// Request cost about 23 KB while it waits. A parked poll's answer closes
// the connection (net/http cannot take it back), so a poll answered
// within this wait keeps its keep-alive connection and one answered later
// pays a new one. An idle session reconnects once per PollWait. Longer
// waits keep more polls in net/http when many arrive at once: 100 ms left
// 8.3 KB per idle session after 5,000 connected within a second, 50 ms
// 4.5 KB (docs/benchmarks.md).
const pollParkAfter = 50 * time.Millisecond

// A session whose polls carried events twice within pollBusyFor is busy
// for pollBusyFor: its polls wait pollParkBusy in net/http before they
// are parked, because an event is likely soon and a parked answer's new
// connection would cost more than the wait. Once is not enough: a new
// session's first events (joined, peer-joined) would keep every poll of
// a connect burst in net/http for pollParkBusy, and its memory with it.
const (
	pollBusyFor  = time.Second
	pollParkBusy = time.Second
)

// parkedPoll is a long-poll out of net/http, waiting for events, the
// end of PollWait or its channel's end. Its fields but conn and cursor
// are guarded by its httpConn's mu.
type parkedPoll struct {
	c      *httpConn
	conn   net.Conn
	cursor uint64 // only the running answer reads it
	fd     int32  // the socket's, which the watcher arms; -1: not watched
	wait   *time.Timer

	running  bool // an answer attempt runs
	again    bool // something came while it ran
	final    bool // PollWait is over: answer even with nothing
	finished bool
}

// park hijacks a poll that has waited pollParkAfter with nothing to send.
// It reports false, with the request still in net/http, if it could not.
func (s *Server) park(w http.ResponseWriter, c *httpConn, cursor uint64, remaining time.Duration) bool {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	p := &parkedPoll{c: c, conn: conn, cursor: cursor, running: true, fd: -1}
	p.wait = time.AfterFunc(remaining, p.expire)
	c.mu.Lock()
	c.parked = p
	c.mu.Unlock()
	if fd, ok := watchFD(conn); ok {
		p.fd = fd
		s.watcher.park(p) // false: bytes came already; the heartbeat looks then
	}
	// Whatever came before parked was set is in the log or in reason:
	// the first attempt, here, sees it.
	p.run()
	return true
}

func (p *parkedPoll) expire() {
	p.c.mu.Lock()
	p.final = true
	p.c.mu.Unlock()
	p.due()
}

// due starts an answer attempt unless one runs. It does not block.
func (p *parkedPoll) due() {
	c := p.c
	c.mu.Lock()
	if p.finished {
		c.mu.Unlock()
		return
	}
	if p.running {
		p.again = true
		c.mu.Unlock()
		return
	}
	p.running = true
	c.mu.Unlock()
	c.srv.wg.Add(1)
	go func() {
		defer c.srv.wg.Done()
		p.run()
	}()
}

// run attempts answers until one went out or nothing new came.
func (p *parkedPoll) run() {
	c := p.c
	for {
		c.mu.Lock()
		p.again = false
		final, reason, finished := p.final, c.reason, p.finished
		c.mu.Unlock()
		if finished || p.answer(final, reason) {
			p.finish()
			return
		}
		c.mu.Lock()
		if !p.again {
			p.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// answer writes the poll's answer if there is one, as servePoll would:
// the events waiting, else the channel's end, else [] once final. It
// reports whether the poll is over.
func (p *parkedPoll) answer(final bool, reason string) bool {
	c, sess := p.c, p.c.sess
	body := []byte{'['}
	body, cursor := appendPollEvents(body, sess.log, p.cursor)
	status := http.StatusOK
	switch {
	case len(body) > 1:
		body[len(body)-1] = ']'
	case reason != "":
		status = http.StatusConflict
		if reason != wire.CodeReplaced {
			status = http.StatusGone
		}
		c.srv.metrics.errors.WithLabelValues(reason).Inc()
		body = append(wire.Encode(wire.ErrorFrame{Type: "error", Code: reason, Message: closeMessages[reason]}), '\n')
	case final:
		body = append(body, ']')
	default:
		return false
	}
	head := make([]byte, 0, 192)
	head = append(head, "HTTP/1.1 "...)
	head = strconv.AppendInt(head, int64(status), 10)
	head = append(append(append(head, ' '), http.StatusText(status)...), "\r\n"...)
	head = append(head, "Content-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\nDate: "...)
	head = append(head, time.Now().UTC().Format(http.TimeFormat)...)
	head = append(head, "\r\nContent-Length: "...)
	head = strconv.AppendInt(head, int64(len(body)), 10)
	head = append(head, "\r\n\r\n"...)
	_ = p.conn.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	bufs := net.Buffers{head, body}
	if cursor > max(p.cursor, 1) { // events besides the welcome
		sess.markBusy() // before the answer, which the next poll follows
	}
	if _, err := bufs.WriteTo(p.conn); err == nil && status == http.StatusOK {
		sess.taken(c, cursor)
	}
	return true
}

// gone ends the poll without an answer if its client left: nothing else
// reads the socket while it waits.
func (p *parkedPoll) gone() {
	if peerGone(p.conn) {
		p.finish()
	}
}

// finish ends the parked poll once: the socket closes and the session
// detaches for its grace period.
func (p *parkedPoll) finish() {
	c := p.c
	c.mu.Lock()
	if p.finished {
		c.mu.Unlock()
		return
	}
	p.finished = true
	c.mu.Unlock()
	p.wait.Stop()
	if p.fd >= 0 {
		c.srv.watcher.forget(p) // a watched socket must not close under the watcher
	}
	_ = p.conn.Close()
	c.done()
}

// parkFD implements watched.
func (p *parkedPoll) parkFD() int32 { return p.fd }

// parking implements watched: a finished poll is not watched.
func (p *parkedPoll) parking() bool {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return !p.finished
}

// peerClosed implements watched: a client that gave up its poll is let
// go now, not at the next heartbeat.
func (p *parkedPoll) peerClosed() {
	if peerGone(p.conn) {
		p.c.srv.wg.Add(1)
		go func() {
			defer p.c.srv.wg.Done()
			p.finish()
		}()
	}
}
