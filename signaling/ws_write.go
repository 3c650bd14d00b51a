package signaling

// The write side of a WebSocket session: events, notices, pings, pongs and
// the close frame all go out through one writer, which frames them itself
// and writes everything due in one vectored write (writev). Server frames
// are not masked, so a relayed event goes out as a header from a scratch
// buffer, the frame the log holds (shared by every recipient and the
// replay buffer, never copied) and its `,"seq":N}` suffix.
//
// gorilla/websocket still reads, and answers a client's close frame, a
// protocol error or an oversized frame from the reader with a close frame
// of its own. Those are single writes, and the runtime serialises writes
// on one socket call by call, so they cannot land inside a vectored write.

import (
	"errors"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// writerLinger is how long a writer waits for more events once it has
// written everything due, before its goroutine ends. Starting and ending
// a goroutine per burst was a third of the server's CPU at 30,000 offers/s
// (docs/benchmarks.md); a writer woken by a channel costs less, and an
// idle connection still holds no goroutine for its writes.
const writerLinger = 5 * time.Millisecond

// wake implements channel.
func (c *wsConn) wake() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.pending = true
	c.startWriterLocked()
}

// heartbeat implements channel: the writer sends a ping at its next turn,
// and a socket past its maximum age is asked to resume elsewhere.
func (c *wsConn) heartbeat() {
	if max := c.srv.cfg.WSMaxAge; max > 0 && time.Duration(time.Now().UnixNano()-c.opened) >= max {
		c.close(wire.CloseResume, wire.CodeResume)
		return
	}
	if c.readExpired() {
		c.drop()
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.writing || c.due() || !c.ready {
		c.pingDue = true
		c.startWriterLocked()
		return
	}
	// Idle, which most connections are: the heartbeat writes the ping
	// itself, as the writer, instead of starting a goroutine for it. A
	// socket that cannot take a few bytes within inlinePingWait is left
	// to a writer goroutine rather than allowed to hold up the heartbeat.
	c.writing = true
	c.mu.Unlock()
	var frame [2 + 20]byte
	n, err := c.writeRaw(c.appendPing(frame[:0]), time.Now().Add(inlinePingWait))
	c.mu.Lock()
	c.writing = false
	if err != nil && n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		// Nothing went out: on a starved machine the deadline can pass
		// before the write even starts. The writer tries again with the
		// full write timeout.
		c.pingsOut.Add(-1)
		c.pingDue = true
		c.startWriterLocked()
		return
	}
	if err != nil {
		c.closed = true
		c.mu.Unlock()
		c.drop() // the reader detaches the session
		return
	}
	if c.due() || c.pingDue {
		c.startWriterLocked() // events came meanwhile
		return
	}
	c.mu.Unlock()
}

// inlinePingWait bounds a ping the heartbeat writes itself.
const inlinePingWait = 50 * time.Millisecond

// due reports whether anything but a ping waits for the writer. mu is held.
func (c *wsConn) due() bool {
	return c.pending || c.notices != nil || c.ctl != nil
}

// wsControl holds the control frames due besides pings, which the writer
// takes with it.
type wsControl struct {
	pong    []byte // a client's ping to answer
	closing []byte // a close frame, after which the writer drops the socket
	resume  bool   // closing asks the client to resume: events due go first
}

// control returns the control frames due, creating them; mu is held.
func (c *wsConn) control() *wsControl {
	if c.ctl == nil {
		c.ctl = &wsControl{}
	}
	return c.ctl
}

// appendPing appends a ping that acknowledges everything written so far.
// Only the writer calls it, before the write that carries the ping.
func (c *wsConn) appendPing(dst []byte) []byte {
	c.sess.ackDue.Store(0)
	c.unacked = 0
	c.pingSeq.Store(c.cursor)
	c.pingsOut.Add(1)
	var digits [20]byte
	payload := strconv.AppendUint(digits[:0], c.cursor, 10)
	dst = append(dst, finalBit|websocket.PingMessage, byte(len(payload)))
	return append(dst, payload...)
}

// notice implements noticer: frame goes out before the next events.
func (c *wsConn) notice(frame []byte) {
	c.mu.Lock()
	c.notices = append(c.notices, frame)
	c.startWriterLocked()
}

// pongTo has the writer answer a client's ping. Only the newest ping is
// answered when several wait, as RFC 6455 allows.
func (c *wsConn) pongTo(data string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.control().pong = []byte(data)
	c.startWriterLocked()
}

// close implements channel: the writer sends a close frame, after any
// notices, and drops the connection. The caller may hold the engine's
// lock, so nothing here waits on the network.
func (c *wsConn) close(code int, reason string) {
	c.mu.Lock()
	if c.closed || c.ctl != nil && c.ctl.closing != nil {
		c.mu.Unlock()
		return
	}
	ctl := c.control()
	ctl.closing, ctl.resume = websocket.FormatCloseMessage(code, reason), code == wire.CloseResume
	c.startWriterLocked()
}

// closeNow sends a close frame and drops the connection at once; only
// for a connection no writer has started on.
func (c *wsConn) closeNow(code int, reason string) {
	msg := websocket.FormatCloseMessage(code, reason)
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.srv.cfg.WriteTimeout))
	c.drop()
}

// startWriterLocked starts a writer unless one runs or the connection is
// not ready, wakes a lingering one, and unlocks mu.
func (c *wsConn) startWriterLocked() {
	start := c.ready && !c.writing
	c.writing = c.writing || start
	kick := c.linger
	c.linger = nil // one kick is enough
	c.mu.Unlock()
	if kick != nil {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	if start {
		c.srv.wg.Add(1)
		go c.writeLoop()
	}
}

// writeTurn is what the writer takes from the connection at once.
type writeTurn struct {
	notices       [][]byte
	ctl           *wsControl
	pending, ping bool
}

// writeLoop writes what is due, turn after turn, lingers for writerLinger
// when nothing is, and exits when nothing came meanwhile.
func (c *wsConn) writeLoop() {
	defer c.srv.wg.Done()
	w := frameWriters.Get().(*frameWriter)
	defer w.release()
	lingered := false
	for {
		c.mu.Lock()
		t := writeTurn{notices: c.notices, ctl: c.ctl, pending: c.pending, ping: c.pingDue}
		c.notices, c.ctl, c.pending, c.pingDue = nil, nil, false, false
		c.linger = nil
		idle := t.notices == nil && t.ctl == nil && !t.pending && !t.ping
		if c.closed || idle && lingered {
			c.writing = false
			c.mu.Unlock()
			return
		}
		if idle {
			c.linger = w.kick
			c.mu.Unlock()
			lingered = !w.wait(writerLinger)
			continue
		}
		c.mu.Unlock()
		lingered = false
		if !c.writeTurn(w, t) {
			// The reader sees the closed socket and detaches.
			if c.closeSent.Load() {
				c.endAfterClose()
			} else {
				c.drop()
			}
			c.mu.Lock()
			c.writing, c.closed = false, true
			c.mu.Unlock()
			return
		}
	}
}

// writeTurn writes t: the pong, the notices, the log's events after the
// cursor with a ping when one is due, in one vectored write per
// eventBatch events, and last the close frame if one is due. It reports
// false when the connection is to be dropped.
//
// A close frame that asks the client to resume (a maximum age, a node
// handing its sessions on) waits for one batch of the events due: it may
// come a moment after the session opened, and must not cut off its
// welcome, which carries the token to resume with. The rest is replayed
// on resume. Any other close goes first: a slow consumer's must not wait
// for the backlog it is closed for, and a replaced socket's events are
// its successor's.
func (c *wsConn) writeTurn(w *frameWriter, t writeTurn) bool {
	nc := c.rawConn()
	if err := nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout)); err != nil {
		return false
	}
	w.reset()
	var ctl wsControl
	if t.ctl != nil {
		ctl = *t.ctl
	}
	if ctl.pong != nil {
		w.control(websocket.PongMessage, ctl.pong)
	}
	for _, n := range t.notices {
		w.text(n, nil)
	}
	closing, from := ctl.closing != nil, c.cursor
	pending := t.pending && (!closing || ctl.resume)
	for {
		n := 0
		if pending {
			batch, err := c.sess.log.Read(c.cursor, w.batch[:0], eventBatch)
			w.batch = batch
			if err != nil {
				// Replaced, and its successor moved on.
				_ = c.writeClose(w, nc, ctl.closing)
				return false
			}
			for _, ev := range batch {
				var sfx [len(`,"seq":}`) + 20]byte
				w.text(ev.Frame[:len(ev.Frame)-1], wire.AppendSeqSuffix(sfx[:0], ev.Seq))
				c.cursor = ev.Seq
				c.unacked += len(ev.Frame)
			}
			n = len(batch)
			pending = n == eventBatch && !closing
		}
		if closing {
			break // the close frame goes in the same write
		}
		if t.ping || c.unacked >= ackBytes { // see ackBytes
			t.ping = false
			w.scratch = c.appendPing(w.scratch)
		}
		if w.flush(nc) != nil {
			return false
		}
		if n > 0 {
			c.sess.taken(c, c.cursor)
		}
		if !pending {
			break
		}
		w.reset()
	}
	if closing {
		c.readsOn.Store(ctl.resume && !c.srv.stopping())
		if c.writeClose(w, nc, ctl.closing) == nil && c.cursor != from {
			c.sess.taken(c, c.cursor) // the events that went out before it
		}
		return false
	}
	if c.unacked > 0 && c.sess.ackDue.Load() == 0 {
		c.sess.ackDue.Store(time.Now().Add(idleAckDelay).UnixNano())
	}
	return true
}

// writeClose adds the close frame, if any, to what w holds and writes it
// all; the connection is then to be dropped.
func (c *wsConn) writeClose(w *frameWriter, nc net.Conn, closing []byte) error {
	if closing == nil {
		return w.flush(nc)
	}
	w.control(websocket.CloseMessage, closing)
	err := w.flush(nc)
	c.closeSent.Store(err == nil)
	return err
}

// writeRaw writes one buffer to the socket, bypassing gorilla's writer.
func (c *wsConn) writeRaw(b []byte, deadline time.Time) (int, error) {
	nc := c.rawConn()
	if err := nc.SetWriteDeadline(deadline); err != nil {
		return 0, err
	}
	return nc.Write(b)
}

// rawConn is the connection under gorilla and the read meter: writes
// are not metered, and a *net.TCPConn takes a vectored write in one
// syscall where a wrapper would write its buffers one by one.
func (c *wsConn) rawConn() net.Conn {
	nc := c.ws.NetConn()
	if m, ok := nc.(*meteredConn); ok {
		return m.Conn
	}
	return nc
}
