package signaling

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// wsConn carries a session over WebSocket. A reader goroutine runs only
// while the client sends, and a writer goroutine only while events,
// notices or a ping are due and for writerLinger after: an idle
// connection is parked (parker) and costs no goroutine and no read
// buffer. Where it cannot be parked (TLS, not Linux) one reader goroutine
// runs for the connection's life.
type wsConn struct {
	srv    *Server
	ws     *websocket.Conn
	sess   *session
	reject replyFunc    // sess.rejectAsEvent, bound once
	opened int64        // Unix ns
	readBy atomic.Int64 // Unix ns: the read deadline, for a parked reader

	// Parking: tcp and fd are set when the connection can be parked. br
	// is gorilla's reader; while a reader runs it holds a pooled buffer
	// and lent the empty reader it replaced, nil while parked.
	tcp       *net.TCPConn
	br        *bufio.Reader
	lent      *bufio.Reader
	fd        int32       // tcp's descriptor, see parker.park
	dropped   atomic.Bool // see drop
	closeSent atomic.Bool // see endAfterClose
	readsOn   atomic.Bool // the close asked to resume: see endAfterClose
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
		// 0: gorilla reads through the bufio.Reader net/http hijacks
		// with, whose buffer the connection can swap (see setReader).
		ReadBufferSize:  0,
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
	addr := s.clientSource(r)
	if refusal := s.admission(r, p, addr); refusal != nil {
		s.httpError(w, r, admissionStatus(refusal), refusal)
		return
	}
	mw := &meteredWriter{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(mw, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	c := &wsConn{srv: s, ws: ws, opened: time.Now().UnixNano()}
	c.setReader(mw)
	c.extendDeadline()
	sess, cursor, notices, refusal := s.open(c, p, addr, true)
	if refusal != nil {
		// Admitted a moment ago, refused now: the cap filled meanwhile.
		code := websocket.CloseTryAgainLater
		if refusal.Code == wire.CodeShutdown {
			code = websocket.CloseGoingAway
		}
		c.closeNow(code, refusal.Code)
		_ = ws.Close() // no reader to do it
		return
	}
	c.sess, c.reject = sess, sess.rejectAsEvent
	mw.conn.sess.Store(sess)
	s.metrics.connections.WithLabelValues("ws").Inc()
	ws.SetReadLimit(s.cfg.MaxMessageSize)
	ws.SetPingHandler(c.onPing)
	ws.SetPongHandler(c.onPong)
	c.mu.Lock()
	c.cursor, c.notices, c.ready, c.pending = cursor, notices, true, true
	c.startWriterLocked()
	if c.parkIdle() {
		return
	}
	// A fresh goroutine starts with a small stack; the handler's own has
	// grown while parsing the HTTP request.
	s.wg.Add(1)
	go c.readLoop()
}

// setReader takes gorilla's reader, which is net/http's hijacked one:
// gorilla reuses it when ReadBufferSize is 0 and it holds over 256 bytes.
// Its 4 KiB buffer is dropped (empty: gorilla checked): a connection that
// can be parked borrows one from the pool when it reads, and one that
// cannot keeps a small one for its life. Putting it in the pool would keep
// a burst of connections' buffers alive through a garbage collection, and
// raise the heap's target with them.
func (c *wsConn) setReader(mw *meteredWriter) {
	c.br = mw.br
	if tcp, ok := mw.conn.Conn.(*net.TCPConn); ok && c.srv.parker != nil && c.br.Size() > 256 {
		if fd, ok := socketFD(tcp); ok {
			c.tcp, c.fd = tcp, fd
			*c.br = bufio.Reader{}
			return
		}
	}
	*c.br = *bufio.NewReaderSize(mw.conn, idleReadBuffer)
}

// idleReadBuffer is a reader's buffer on a connection that is never
// parked: it is held for the connection's life.
const idleReadBuffer = 1024

// readBuffers are lent to connections while they read. The buffer of
// each bufio.Reader is what is lent: its fields are swapped with those of
// gorilla's, which gorilla only uses from the reader.
var readBuffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}

// readBufferSize is the buffer a reader borrows: one read(2) takes a
// burst of frames (16 KiB took 4.3 µs of server CPU per relayed 1.5 KB
// offer on a cold burst, 4 KiB 4.5 µs; docs/benchmarks.md, issue 9).
const readBufferSize = 16 << 10

func (c *wsConn) borrowReadBuffer() {
	r := readBuffers.Get().(*bufio.Reader)
	r.Reset(c.ws.NetConn())
	*c.br, *r = *r, *c.br
	c.lent = r
}

// returnReadBuffer gives the buffer back, if one is lent; it must be
// empty.
func (c *wsConn) returnReadBuffer() {
	if c.lent == nil {
		return
	}
	*c.br, *c.lent = *c.lent, *c.br
	c.lent.Reset(nil)
	readBuffers.Put(c.lent)
	c.lent = nil
}

// drop makes the reader end the connection; only the reader closes a
// socket that can be parked, so that its descriptor cannot be reused
// while parked (see parker). Shutting the read side wakes the reader,
// parked or not; it reads no frame after it sees dropped, even with
// bytes still queued.
func (c *wsConn) drop() {
	if c.tcp != nil {
		c.dropped.Store(true)
		_ = c.tcp.CloseRead()
		return
	}
	_ = c.ws.Close()
}

// endAfterClose ends a connection whose close frame went out. Closing a
// socket with unread bytes makes the kernel reset the connection and
// throw away what it has not sent yet, the close frame last of all, and
// a client still sending (a pong, a candidate) always leaves some. So the
// FIN goes after the frame, and the reader reads on, discarding, until
// the client closes too or closeLinger passes (see drain).
//
// A close that asks the client to resume while the node goes on (a
// maximum age) is not the session's end: what the client wrote before it
// saw the close frame is its session's, so the reader handles it, as
// before the close, until the client's own close frame or closeLinger
// (RFC 6455 lets an endpoint read data frames until then). The client
// resumes only after it saw the close, so its next channel carries what
// came after. A node that stops does not wait for them: its sessions are
// handed over or saved as they are.
func (c *wsConn) endAfterClose() {
	c.closeSent.Store(true)
	readsOn := c.readsOn.Load()
	if c.tcp == nil {
		if !readsOn {
			c.drop()
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(closeLinger))
		return
	}
	_ = c.tcp.CloseWrite()
	if readsOn {
		_ = c.tcp.SetReadDeadline(time.Now().Add(closeLinger))
	} else {
		_ = c.tcp.SetReadDeadline(time.Now()) // wakes a reader blocked in a read
	}
	c.srv.parker.unpark(c) // and hands a parked one to a reader
}

// closeLinger bounds how long a connection whose close frame went out
// waits for the client to close; maxDrain bounds what it reads meanwhile.
const (
	closeLinger = 2 * time.Second
	maxDrain    = 4 << 20
)

// drain reads and discards what the client sends after our close frame,
// until it closes, closeLinger passes or maxDrain bytes came. It reads
// the socket itself: the byte budget does not pace it.
func (c *wsConn) drain() {
	_ = c.tcp.SetReadDeadline(time.Now().Add(closeLinger))
	buf := frameBuffers.Get().(*[]byte)
	b := (*buf)[:cap(*buf)]
	for n := 0; n < maxDrain; {
		m, err := c.tcp.Read(b)
		if err != nil {
			break
		}
		n += m
	}
	frameBuffers.Put(buf)
}

// onPing answers a client's ping, within the session's frame limit: pings
// count like any frame, and over the limit get no pong.
func (c *wsConn) onPing(data string) error {
	c.extendDeadline()
	if !c.sess.allowFrame() {
		c.srv.metrics.errors.WithLabelValues(wire.CodeRateLimited).Inc()
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
			c.srv.metrics.errors.WithLabelValues(wire.CodeRateLimited).Inc()
			return nil
		}
	}
	c.extendDeadline()
	// A pong answers one ping, which carried the write position it was
	// sent at; several may be out at once, so only that position is
	// proven read. The cap stops a forged pong from claiming more.
	if seq, err := wire.ParseSeq(data); err == nil && seq > 0 {
		c.sess.ack(c, min(seq, c.pingSeq.Load()))
	}
	return nil
}

// extendDeadline moves the read deadline to a pong's wait from now. Moving
// it costs a timer update, which per frame was 2-3 % of the relay's CPU,
// so it moves only once an eighth of the wait has passed: a silent client
// is dropped at most that much early.
func (c *wsConn) extendDeadline() {
	if c.closeSent.Load() {
		return // the deadline is endAfterClose's
	}
	cfg := &c.srv.cfg
	wait := cfg.PingInterval + cfg.PongTimeout
	now := monoNow()
	if c.readExtended != 0 && now-c.readExtended < int64(wait/8) {
		return
	}
	c.readExtended = now
	by := time.Now().Add(wait)
	c.readBy.Store(by.UnixNano())
	_ = c.ws.SetReadDeadline(by)
}

// parkIdle parks the connection if it can be parked and nothing is left
// to read; on true the reader must return at once.
func (c *wsConn) parkIdle() bool {
	return c.tcp != nil && c.br.Buffered() == 0 && c.srv.parker.park(c)
}

// readExpired reports a parked connection past its read deadline, which
// no read is waiting on to enforce: the heartbeat drops it.
func (c *wsConn) readExpired() bool {
	return c.tcp != nil && time.Now().UnixNano() > c.readBy.Load()
}

// readLoop reads and handles frames until the connection ends or, when it
// can be parked, until nothing more is there to read. After a frame that
// took the slow path (encoding/json's reflection runs deep) it carries on
// in a fresh goroutine: a goroutine's stack never shrinks below four times
// its use, so otherwise a connection read without a pause would keep the
// 8 KiB stack its join grew, instead of 4 KiB.
func (c *wsConn) readLoop() {
	defer c.srv.wg.Done()
	for {
		if c.tcp != nil {
			if c.dropped.Load() || c.closeSent.Load() && !c.readsOn.Load() {
				c.finish(net.ErrClosed)
				return
			}
			if c.lent == nil {
				c.borrowReadBuffer()
			}
			handled, err := c.controlFrame()
			if err != nil {
				c.finish(err)
				return
			}
			if handled {
				if c.parkIdle() {
					return
				}
				continue
			}
		}
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
			slow, _ = c.sess.handle(frame, c.reject) // gone: the client resends it where the session is
		} else {
			c.sess.refuse(c.reject, nil, wire.NewError(wire.CodeBadJSON, "binary frames are not supported; send JSON text"))
		}
		*buf = frame[:0]
		frameBuffers.Put(buf)
		if c.parkIdle() {
			return
		}
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
	if c.tcp != nil && c.closeSent.Load() {
		c.drain()
		err = net.ErrClosed // our close frame decided, whatever the client answered
	}
	_ = c.ws.Close()
	if c.lent != nil {
		c.br.Reset(nil) // whatever is left is not read
		c.returnReadBuffer()
	}
	c.srv.metrics.connections.WithLabelValues("ws").Dec()
	switch {
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) && c.sess.attached() == c:
		// A replaced socket's goodbye is not the session's: its
		// successor carries on.
		c.srv.endSession(c.sess, wire.CodeBye)
		return
	case errors.Is(err, websocket.ErrReadLimit):
		// A client that broke the size limit would only break it again.
		c.srv.metrics.errors.WithLabelValues(wire.CodeTooLarge).Inc()
		c.srv.endSession(c.sess, wire.CodeTooLarge)
		return
	}
	c.sess.detach(c)
}

// controlFrame handles a ping or pong at the head of the stream, as
// gorilla would, and reports whether it did; anything else is left to
// gorilla. Inside NextReader gorilla handles control frames and then
// waits for the next message, so a heartbeat's pong would hold a reader
// until the client's next message. Between messages gorilla has no state
// that a ping or pong changes.
func (c *wsConn) controlFrame() (bool, error) {
	h, err := c.br.Peek(2)
	if err != nil {
		return false, nil // gorilla reports it
	}
	const fin, rsv, masked, lenMask = 0x80, 0x70, 0x80, 0x7f
	op, n := int(h[0]&0x0f), int(h[1]&lenMask)
	if h[0]&(fin|rsv) != fin || h[1]&masked == 0 || n > 125 ||
		op != websocket.PingMessage && op != websocket.PongMessage {
		return false, nil
	}
	f, err := c.br.Peek(2 + 4 + n)
	if err != nil {
		return false, nil
	}
	key, payload := f[2:6], f[6:]
	for i := range payload {
		payload[i] ^= key[i&3]
	}
	data := string(payload)
	_, _ = c.br.Discard(len(f))
	if op == websocket.PingMessage {
		return true, c.onPing(data)
	}
	return true, c.onPong(data)
}

// parkFD implements parkable.
func (c *wsConn) parkFD() int32 { return c.fd }

// parking implements parkable: an idle socket needs no read buffer, and
// one whose close frame is out is read to its end, not parked.
func (c *wsConn) parking() bool {
	c.returnReadBuffer()
	return !c.closeSent.Load()
}
