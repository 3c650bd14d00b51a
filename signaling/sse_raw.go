package signaling

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// rawSSE carries a session over an HTTP/1.1 SSE stream taken out of
// net/http. Parked in a handler, a stream held net/http's connection
// goroutine, its background reader, 8 KiB of buffers and the parsed
// Request: about 23 KB. Hijacked, an idle stream is its socket, this
// struct and a timer. Like a WebSocket's, a writer goroutine exists only
// while something is due; the heartbeat writes its comment line itself
// and notices a client that has gone (see peerGone).
type rawSSE struct {
	srv    *Server
	conn   net.Conn
	sess   *session
	maxAge *time.Timer

	cursor uint64 // the writer's own: newest seq written
	fd     int32  // the socket's, which the watcher arms; -1: not watched

	mu      sync.Mutex
	notices [][]byte // sent before any event: resumed, resume_failed
	pending bool     // events were appended since the writer last looked
	beat    bool     // a heartbeat is due
	aged    bool     // SSEMaxAge has passed: end the stream
	reason  string   // the channel must end with this notice: a Code*
	ready   bool     // hijacked, head written: writing may start
	writing bool     // a writer is running
	closed  bool
}

// serveRawSSE hijacks the connection once the session is open, so that
// refusals still go out through net/http, and answers with a response
// delimited by the connection's close.
func (s *Server) serveRawSSE(w http.ResponseWriter, r *http.Request, p resumeParams) {
	c := &rawSSE{srv: s, fd: -1}
	sess, cursor, notices, refusal := s.open(c, p, s.clientSource(r), true)
	if refusal != nil {
		s.httpError(w, r, admissionStatus(refusal), refusal)
		return
	}
	c.sess = sess
	s.metrics.connections.WithLabelValues("sse").Inc()
	h := w.Header()
	setSSEHeaders(h)
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Nothing was written: net/http can still answer.
		c.finish()
		s.log.Warn("sse: hijack failed", "err", err)
		s.httpError(w, r, http.StatusServiceUnavailable, wire.NewError(wire.CodeUnavailable, "the stream could not start; retry"))
		return
	}
	c.conn = conn
	head := append(make([]byte, 0, 256), "HTTP/1.1 200 OK\r\n"...)
	for k, vs := range h {
		for _, v := range vs {
			head = append(append(append(append(head, k...), ": "...), v...), "\r\n"...)
		}
	}
	head = append(append(head, "\r\n"...), sseRetry...)
	_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if _, err := conn.Write(head); err != nil {
		c.finish()
		return
	}
	c.maxAge = time.AfterFunc(s.cfg.SSEMaxAge, c.expire)
	if fd, ok := watchFD(conn); ok {
		c.fd = fd
		s.watcher.park(c) // false: bytes came already; the heartbeat looks then
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.cursor, c.notices, c.ready, c.pending = cursor, notices, true, true
	// The handler writes the first turn itself, then returns: net/http's
	// goroutine and buffers go.
	c.writing = true
	c.mu.Unlock()
	c.writeLoop()
}

// canHijack reports whether w, or a writer it wraps, can hand over its
// connection: not so under HTTP/2 or a test's recorder.
func canHijack(w http.ResponseWriter) bool {
	for {
		if _, ok := w.(http.Hijacker); ok {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

// wake implements channel.
func (c *rawSSE) wake() {
	c.mu.Lock()
	c.pending = true
	c.startWriterLocked()
}

// close implements channel: the writer sends the notice and ends the
// stream.
func (c *rawSSE) close(_ int, reason string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = reason
	}
	c.startWriterLocked()
}

// expire ends the stream at SSEMaxAge, after what is due.
func (c *rawSSE) expire() {
	c.mu.Lock()
	c.aged = true
	c.startWriterLocked()
}

// heartbeat implements channel. An idle stream gets its comment line
// from the heartbeat itself, as the writer, instead of from a goroutine
// started for it; a client that cannot take seven bytes at once is not
// reading and is let go. A client that closed its end is noticed here
// too: nothing else reads the socket.
func (c *rawSSE) heartbeat() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.writing || !c.ready {
		c.beat = true
		c.startWriterLocked()
		return
	}
	c.writing = true
	c.mu.Unlock()
	ok := !peerGone(c.conn)
	if ok {
		_ = c.conn.SetWriteDeadline(time.Now().Add(inlinePingWait))
		_, err := c.conn.Write([]byte(": hb\n\n"))
		ok = err == nil
	}
	if !ok {
		c.finish()
		return
	}
	c.mu.Lock()
	c.writing = false
	if c.pending || c.notices != nil || c.reason != "" || c.aged {
		c.startWriterLocked() // something came meanwhile
		return
	}
	c.mu.Unlock()
}

// startWriterLocked starts a writer unless one runs, the stream is not
// ready or it has ended, and unlocks mu.
func (c *rawSSE) startWriterLocked() {
	start := c.ready && !c.writing && !c.closed
	c.writing = c.writing || start
	c.mu.Unlock()
	if start {
		c.srv.wg.Add(1)
		go func() {
			defer c.srv.wg.Done()
			c.writeLoop()
		}()
	}
}

// sseWriters buffer one write turn of a raw stream; an idle stream holds
// none.
var sseWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

// writeLoop writes what is due, turn by turn, and returns when nothing is
// or the stream has ended.
func (c *rawSSE) writeLoop() {
	for {
		c.mu.Lock()
		notices, pending, beat, aged, reason := c.notices, c.pending, c.beat, c.aged, c.reason
		c.notices, c.pending, c.beat = nil, false, false
		if c.closed || notices == nil && !pending && !beat && !aged && reason == "" {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if !c.writeTurn(notices, pending, beat, reason) || aged || reason != "" {
			c.finish()
			return
		}
	}
}

// writeTurn writes notices, the log's events after the cursor, the
// closing notice if reason is set and a heartbeat if beat, in one flush
// within WriteTimeout.
func (c *rawSSE) writeTurn(notices [][]byte, pending, beat bool, reason string) bool {
	bw := sseWriters.Get().(*bufio.Writer)
	bw.Reset(c.conn)
	defer func() { bw.Reset(nil); sseWriters.Put(bw) }()
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	for _, n := range notices {
		writeSSE(bw, 0, n)
	}
	if pending {
		buf := frameBuffers.Get().(*[]byte)
		// An error: replaced, and the successor moved on.
		c.cursor, _ = readEvents(c.sess.log, c.cursor, nil, func(ev wire.Event) {
			*buf = wire.AppendEvent((*buf)[:0], ev)
			writeSSE(bw, ev.Seq, *buf)
		})
		*buf = (*buf)[:0]
		frameBuffers.Put(buf)
	}
	if reason != "" {
		writeSSE(bw, 0, noticeFrame(reason, closeMessages[reason]))
	} else if beat {
		_, _ = bw.WriteString(": hb\n\n")
	}
	// Taken before the flush: once the client can read an event it may
	// acknowledge it (on a POST), and an Ack stops at the taken mark.
	c.sess.taken(c, c.cursor)
	return bw.Flush() == nil
}

// finish ends the stream once: the socket closes and the session
// detaches for its grace period.
func (c *rawSSE) finish() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed, c.writing = true, false
	c.mu.Unlock()
	if c.maxAge != nil {
		c.maxAge.Stop()
	}
	if c.fd >= 0 {
		c.srv.watcher.forget(c) // a watched socket must not close under the watcher
	}
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.sess.detach(c)
	c.srv.metrics.connections.WithLabelValues("sse").Dec()
}

// parkFD implements watched.
func (c *rawSSE) parkFD() int32 { return c.fd }

// parking implements watched: an ended stream is not watched.
func (c *rawSSE) parking() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed
}

// peerClosed implements watched: a client that closed its stream is let
// go now, not at the next heartbeat (its peers hear of it a grace period
// later, not a heartbeat and a grace period later). Bytes from a client
// that did not close say nothing: the heartbeat looks again.
func (c *rawSSE) peerClosed() {
	if peerGone(c.conn) {
		c.srv.wg.Add(1)
		go func() {
			defer c.srv.wg.Done()
			c.finish()
		}()
	}
}
