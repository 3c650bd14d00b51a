package signaling

// The write side of a WebSocket session: events, notices, pings, close.

import (
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

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
		c.close(closeResume, CodeResume)
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
	if c.writing || c.pending || c.notices != nil || !c.ready {
		c.pingDue = true
		c.startWriterLocked()
		return
	}
	// Idle, which most connections are: the heartbeat writes the ping
	// itself, as the writer, instead of starting a goroutine for it. A
	// socket that cannot take two bytes at once is not being read, and
	// is given up on rather than allowed to hold up the heartbeat.
	c.writing = true
	c.mu.Unlock()
	ok := c.writePing(time.Now().Add(inlinePingWait))
	c.mu.Lock()
	c.writing = false
	if !ok {
		c.closed = true
		c.mu.Unlock()
		c.drop() // the reader detaches the session
		return
	}
	if c.pending || c.pingDue || c.notices != nil {
		c.startWriterLocked() // events came meanwhile
		return
	}
	c.mu.Unlock()
}

// inlinePingWait bounds a ping the heartbeat writes itself.
const inlinePingWait = 50 * time.Millisecond

// writePing sends a ping that acknowledges everything written so far. Only
// the writer calls it.
func (c *wsConn) writePing(deadline time.Time) bool {
	c.sess.ackDue.Store(0)
	c.unacked = 0
	c.pingSeq.Store(c.cursor)
	c.pingsOut.Add(1)
	var payload [20]byte
	return c.ws.WriteControl(websocket.PingMessage, strconv.AppendUint(payload[:0], c.cursor, 10), deadline) == nil
}

// notice implements noticer: frame goes out before the next events.
func (c *wsConn) notice(frame []byte) {
	c.mu.Lock()
	c.notices = append(c.notices, frame)
	c.startWriterLocked()
}

// startWriterLocked starts a writer unless one runs or the connection is
// not ready, and unlocks mu.
func (c *wsConn) startWriterLocked() {
	start := c.ready && !c.writing
	c.writing = c.writing || start
	c.mu.Unlock()
	if start {
		c.srv.wg.Add(1)
		go c.writeLoop()
	}
}

// writeLoop writes notices, then the log's events after the cursor, and
// exits when nothing is due.
func (c *wsConn) writeLoop() {
	defer c.srv.wg.Done()
	batchp := eventBatches.Get().(*[]Event)
	defer func() { clear(*batchp); eventBatches.Put(batchp) }()
	scratch := frameBuffers.Get().(*[]byte)
	defer frameBuffers.Put(scratch)
	for {
		c.mu.Lock()
		notices, ping, pending := c.notices, c.pingDue, c.pending
		c.notices, c.pingDue, c.pending = nil, false, false
		if c.closed || !pending && !ping && notices == nil {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		deadline := time.Now().Add(c.srv.cfg.WriteTimeout)
		_ = c.ws.SetWriteDeadline(deadline)
		ok := true
		for _, n := range notices {
			ok = ok && c.ws.WriteMessage(websocket.TextMessage, n) == nil
		}
		for ok && pending {
			batch, err := c.sess.log.Read(c.cursor, (*batchp)[:0], eventBatch)
			if err != nil {
				ok = false // replaced, and its successor moved on
				break
			}
			for _, ev := range batch {
				if ok = c.writeEvent(ev, scratch); !ok {
					break
				}
				c.cursor = ev.Seq
				c.unacked += len(ev.Frame)
			}
			pending = len(batch) == eventBatch
			c.sess.taken(c, c.cursor)
		}
		ping = ping || c.unacked >= ackBytes // see ackBytes
		if !ping && c.unacked > 0 && c.sess.ackDue.Load() == 0 {
			c.sess.ackDue.Store(time.Now().Add(idleAckDelay).UnixNano())
		}
		if ok && ping {
			ok = c.writePing(deadline)
		}
		if !ok {
			// The reader sees the closed socket and detaches.
			c.drop()
			c.mu.Lock()
			c.writing, c.closed = false, true
			c.mu.Unlock()
			return
		}
	}
}

// writeEvent writes ev with its seq. The frame is copied into scratch
// first: gorilla's WriteMessage writes a whole message without
// allocating, where a NextWriter costs an allocation per message.
func (c *wsConn) writeEvent(ev Event, scratch *[]byte) bool {
	*scratch = appendEvent((*scratch)[:0], ev)
	return c.ws.WriteMessage(websocket.TextMessage, *scratch) == nil
}

// close implements channel: it sends a close frame and drops the
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
	c.drop()
}
