package signaling

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn carries a session over WebSocket. A single reader goroutine runs
// for the connection's life; a writer goroutine exists only while events,
// notices or a ping are due and for writerLinger after, so an idle
// connection costs one goroutine.
type wsConn struct {
	srv    *Server
	ws     *websocket.Conn
	sess   *session
	reject replyFunc // sess.rejectAsEvent, bound once
	opened int64     // Unix ns
	// pingSeq is the newest seq written before the last ping. Each ping
	// carries its own position, which its pong proves read (see onPong).
	pingSeq  atomic.Uint64
	pingsOut atomic.Int32 // pings sent and not yet answered

	readExtended int64 // the reader's own: when the read deadline last moved (monoNow)

	// The writer's own: newest seq written, and bytes written since the
	// last ping.
	cursor  uint64
	unacked int

	mu      sync.Mutex
	notices [][]byte   // sent before any event: resumed, resume_failed
	ctl     *wsControl // control frames due, rarely any: kept out of every idle connection
	pending bool       // events were appended since the writer last looked
	pingDue bool       // the heartbeat asked for a ping
	ready   bool       // notices and cursor are set: writing may start
	writing bool       // a writer goroutine is running (or the heartbeat writes a ping)
	closed  bool
	linger  chan struct{} // while the writer lingers: a send wakes it
}

// A pong acknowledges what was written before its ping. A WebSocket
// pings after every ackBytes it writes, and idleAckDelay after it went
// quiet with events unacknowledged, so that its replay buffer holds about
// ackBytes while busy and nothing soon after, not everything since the
// last heartbeat.
const (
	ackBytes     = 64 << 10
	idleAckDelay = time.Second
)

// writeBuffers is shared by all connections: a write buffer is held only
// while a frame is being written, not for the connection's life.
var writeBuffers sync.Pool

func (s *Server) newUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferPool: &writeBuffers,
		// Origin is checked in serveWS, before the upgrade, so that a
		// refusal carries a JSON error body.
		CheckOrigin: func(*http.Request) bool { return true },
	}
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	p, ok := s.channelRequest(w, r, false)
	if !ok {
		return
	}
	addr := s.clientAddr(r)
	if refusal := s.admission(r, p, addr); refusal != nil {
		s.httpError(w, admissionStatus(refusal), refusal)
		return
	}
	mw := &meteredWriter{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(mw, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	c := &wsConn{srv: s, ws: ws, opened: time.Now().UnixNano()}
	sess, cursor, notices, refusal := s.open(c, p, addr, true)
	if refusal != nil {
		// Admitted a moment ago, refused now: the cap filled meanwhile.
		code := websocket.CloseTryAgainLater
		if refusal.Code == CodeShutdown {
			code = websocket.CloseGoingAway
		}
		c.closeNow(code, refusal.Code)
		return
	}
	c.sess, c.reject = sess, sess.rejectAsEvent
	mw.conn.sess.Store(sess)
	s.metrics.connections.WithLabelValues("ws").Inc()
	ws.SetReadLimit(s.cfg.MaxMessageSize)
	c.extendDeadline()
	ws.SetPingHandler(c.onPing)
	ws.SetPongHandler(c.onPong)
	c.mu.Lock()
	c.cursor, c.notices, c.ready, c.pending = cursor, notices, true, true
	c.startWriterLocked()
	// A fresh goroutine starts with a small stack; the handler's own has
	// grown while parsing the HTTP request.
	s.wg.Add(1)
	go c.readLoop()
}

// onPing answers a client's ping, within the session's frame limit: pings
// count like any frame, and over the limit get no pong.
func (c *wsConn) onPing(data string) error {
	c.extendDeadline()
	if !c.sess.allowFrame() {
		c.srv.metrics.errors.WithLabelValues(CodeRateLimited).Inc()
		return nil
	}
	c.pongTo(data) // through the writer: one writer per socket
	return nil
}

// onPong takes a pong as proof that the client has read everything
// written before the ping it answers. A pong nobody asked for counts
// against the frame limit, like a ping.
func (c *wsConn) onPong(data string) error {
	if c.pingsOut.Add(-1) < 0 {
		c.pingsOut.Store(0)
		if !c.sess.allowFrame() {
			c.srv.metrics.errors.WithLabelValues(CodeRateLimited).Inc()
			return nil
		}
	}
	c.extendDeadline()
	// A pong answers one ping, which carried the write position it was
	// sent at; several may be out at once, so only that position is
	// proven read. The cap stops a forged pong from claiming more.
	if seq, err := parseSeq(data); err == nil && seq > 0 {
		c.sess.ack(c, min(seq, c.pingSeq.Load()))
	}
	return nil
}

// extendDeadline moves the read deadline to a pong's wait from now. Moving
// it costs a timer update, which per frame was 2-3 % of the relay's CPU,
// so it moves only once an eighth of the wait has passed: a silent client
// is dropped at most that much early.
func (c *wsConn) extendDeadline() {
	cfg := &c.srv.cfg
	wait := cfg.PingInterval + cfg.PongTimeout
	now := monoNow()
	if c.readExtended != 0 && now-c.readExtended < int64(wait/8) {
		return
	}
	c.readExtended = now
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
}

// readLoop reads and handles frames until the connection ends. After a
// frame that took the slow path (encoding/json's reflection runs deep) it
// carries on in a fresh goroutine: a goroutine's stack never shrinks below
// four times its use, so otherwise every idle connection would keep the
// 8 KiB stack its join grew, instead of 4 KiB.
func (c *wsConn) readLoop() {
	defer c.srv.wg.Done()
	for {
		kind, r, err := c.ws.NextReader()
		if err != nil {
			c.finish(err)
			return
		}
		c.extendDeadline()
		buf := frameBuffers.Get().(*[]byte)
		frame, err := readFrame(r, (*buf)[:0])
		if err != nil {
			c.finish(err) // on ErrReadLimit gorilla has sent close 1009
			return
		}
		slow := true
		if kind == websocket.TextMessage {
			slow = c.sess.handle(frame, c.reject)
		} else {
			c.sess.refuse(c.reject, nil, newError(CodeBadJSON, "binary frames are not supported; send JSON text"))
		}
		*buf = frame[:0]
		frameBuffers.Put(buf)
		if slow {
			c.srv.wg.Add(1)
			go c.readLoop()
			return
		}
	}
}

// frameBuffers holds read buffers between frames, so an idle connection
// holds none and a busy one allocates none.
var frameBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// readFrame appends the whole message from r to buf. The connection's read
// limit bounds it.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// finish runs once the reader has stopped. A client that closed with 1000
// or 1001 is done, and one over the size limit is cut off: their sessions
// end. Any other end (a network drop, a dead peer) only detaches the
// session for the grace period.
func (c *wsConn) finish(err error) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	_ = c.ws.Close()
	c.srv.metrics.connections.WithLabelValues("ws").Dec()
	switch {
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) && c.sess.attached() == c:
		// A replaced socket's goodbye is not the session's: its
		// successor carries on.
		c.srv.endSession(c.sess, CodeBye)
		return
	case errors.Is(err, websocket.ErrReadLimit):
		// A client that broke the size limit would only break it again.
		c.srv.metrics.errors.WithLabelValues(CodeTooLarge).Inc()
		c.srv.endSession(c.sess, CodeTooLarge)
		return
	}
	c.sess.detach(c)
}
