package signaling

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn carries one session over WebSocket. A single reader goroutine
// runs for the connection's life; a writer goroutine exists only while
// frames or a ping are due, so an idle connection costs one goroutine.
type wsConn struct {
	srv  *Server
	ws   *websocket.Conn
	sess *session

	mu      sync.Mutex
	queue   [][]byte
	queued  int  // bytes in queue
	pingDue bool // the heartbeat asked for a ping
	writing bool // a writer goroutine is draining queue
	closed  bool
}

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
	if !s.originAllowed(r) {
		s.httpError(w, http.StatusForbidden, newError(CodeBadOrigin, "origin %q is not allowed", r.Header.Get("Origin")))
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	c := &wsConn{srv: s, ws: ws}
	c.sess = newSession(s, c)
	if !s.register(c.sess) {
		c.closeNow(websocket.CloseGoingAway, CodeShutdown)
		return
	}
	ws.SetReadLimit(s.cfg.MaxMessageSize)
	c.extendDeadline()
	ws.SetPongHandler(func(string) error { c.extendDeadline(); return nil })
	c.Deliver(c.sess.welcome())
	// A fresh goroutine starts with a small stack; the handler's own has
	// grown while parsing the HTTP request.
	s.wg.Add(1)
	go c.readLoop()
}

func (c *wsConn) extendDeadline() {
	cfg := &c.srv.cfg
	_ = c.ws.SetReadDeadline(time.Now().Add(cfg.PingInterval + cfg.PongTimeout))
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
			c.finish()
			return
		}
		c.extendDeadline()
		buf := frameBuffers.Get().(*[]byte)
		frame, err := readFrame(r, (*buf)[:0])
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				// gorilla has already sent close 1009.
				c.srv.metrics.errors.WithLabelValues(CodeTooLarge).Inc()
			}
			c.finish()
			return
		}
		slow := true
		if kind == websocket.TextMessage {
			slow = c.sess.handle(frame)
		} else {
			c.sess.reject(nil, newError(CodeBadJSON, "binary frames are not supported; send JSON text"))
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

// finish runs once the reader has stopped: the session leaves its room and
// the connection is released.
func (c *wsConn) finish() {
	c.sess.leave()
	c.srv.unregister(c.sess)
	c.mu.Lock()
	c.closed = true
	c.queue = nil
	c.mu.Unlock()
	_ = c.ws.Close()
}

// Deliver implements Mailbox. It runs under the router's lock, so it only
// queues; a slow client is cut off rather than allowed to grow the queue.
func (c *wsConn) Deliver(frame []byte) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.queued+len(frame) > c.srv.cfg.SendQueueBytes {
		c.closed = true
		c.queue = nil
		c.mu.Unlock()
		c.srv.metrics.errors.WithLabelValues(CodeSlowConsumer).Inc()
		c.close(websocket.ClosePolicyViolation, CodeSlowConsumer)
		return
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	c.startWriterLocked()
}

// startWriterLocked starts a writer unless one is running, and unlocks mu.
func (c *wsConn) startWriterLocked() {
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		c.srv.wg.Add(1)
		go c.writeLoop()
	}
}

// ping implements transport: the writer sends a ping at its next turn.
func (c *wsConn) ping() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.pingDue = true
	c.startWriterLocked()
}

// writeLoop drains the queue in batches and exits when it is empty.
func (c *wsConn) writeLoop() {
	defer c.srv.wg.Done()
	for {
		c.mu.Lock()
		batch, ping := c.queue, c.pingDue
		c.queue, c.queued, c.pingDue = nil, 0, false
		if len(batch) == 0 && !ping || c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		deadline := time.Now().Add(c.srv.cfg.WriteTimeout)
		_ = c.ws.SetWriteDeadline(deadline)
		if ping && c.ws.WriteControl(websocket.PingMessage, nil, deadline) != nil {
			batch = nil // the reader sees the dead socket soon enough
		}
		for _, frame := range batch {
			if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
				// The reader sees the closed socket and cleans up.
				_ = c.ws.Close()
				c.mu.Lock()
				c.writing, c.closed, c.queue = false, true, nil
				c.mu.Unlock()
				return
			}
		}
	}
}

// close implements transport: it sends a close frame and drops the
// connection from a goroutine of its own, because the caller may hold the
// router's lock and the write may wait on a slow client.
func (c *wsConn) close(code int, reason string) {
	c.srv.wg.Add(1)
	go func() {
		defer c.srv.wg.Done()
		c.closeNow(code, reason)
	}()
}

func (c *wsConn) closeNow(code int, reason string) {
	msg := websocket.FormatCloseMessage(code, reason)
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.srv.cfg.WriteTimeout))
	_ = c.ws.Close()
}
