package client

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// The outbox keeps frames waiting for their turn and gets them out on
// the channel in use (web/client/outbox.js). Token buckets keep the
// client below the server's per-session limits, so that a burst of
// candidates waits in order instead of being dropped. The queue belongs
// to the session, not to a channel: frames queued while no channel is up
// go out on the next one once the session is resumed. Loop-owned.
type outbox struct {
	items  [][]byte
	tokens float64 // frames that may go now
	bytes  float64 // bytes that may go now
	at     time.Time
	busy   bool // a write is in flight: one at a time keeps order
	ch     *channel
	token  string
	timer  loopTimer
	epoch  uint64 // bumped when the session ends: answers of older writes are moot
}

// refill: a new session starts with full buckets on the server too.
func (c *Client) refillOutbox() {
	c.out.tokens = float64(c.opts.SendBurst)
	c.out.bytes = float64(c.opts.SendByteBurst)
	c.out.at = time.Now()
}

// enqueue queues an encoded frame.
func (c *Client) enqueue(text []byte) error {
	switch {
	case c.sess == nil:
		return ErrNoSession
	case len(text) > maxFrameBytes-2:
		return ErrTooLarge
	case len(c.out.items) >= c.opts.MaxQueued:
		return ErrQueueFull
	}
	c.out.items = append(c.out.items, text)
	c.flush()
	return nil
}

// useChannel sends on ch from now on; nil stops sending.
func (c *Client) useChannel(ch *channel, token string) {
	c.out.ch, c.out.token = ch, token
	if ch == nil {
		c.out.timer.stop()
		c.out.busy = false
	}
	c.flush()
}

func (c *Client) flush() {
	o := &c.out
	if o.ch == nil || o.busy || o.timer.armed() || len(o.items) == 0 {
		return
	}
	limit := maxFrameBytes // one POST body
	if o.ch.kind == WebSocket {
		limit = 1 << 30
	}
	if batch := c.take(limit); len(batch) > 0 {
		o.busy = true
		c.write(o.ch, o.token, batch)
	}
	if len(o.items) > 0 && !o.busy {
		frames := (1 - o.tokens) / c.opts.SendRate
		bytes := (float64(min(len(o.items[0]), c.opts.SendByteBurst)) - o.bytes) / float64(c.opts.SendByteRate)
		wait := time.Duration(max(frames, bytes, 0.001) * float64(time.Second))
		c.arm(&o.timer, wait, c.flush)
	}
}

// take removes the frames the buckets let go now, at most maxBytes as
// one JSON array.
func (c *Client) take(maxBytes int) [][]byte {
	o := &c.out
	now := time.Now()
	dt := now.Sub(o.at).Seconds()
	o.at = now
	o.tokens = min(float64(c.opts.SendBurst), o.tokens+dt*c.opts.SendRate)
	o.bytes = min(float64(c.opts.SendByteBurst), o.bytes+dt*float64(c.opts.SendByteRate))
	n, body, sent := 0, 2, 0
	for n < len(o.items) && float64(n+1) <= o.tokens {
		size := len(o.items[n])
		if n > 0 && body+size+1 > maxBytes {
			break
		}
		if float64(sent+size) > o.bytes {
			break
		}
		body += size + 1
		sent += size
		n++
	}
	o.tokens -= float64(n)
	o.bytes -= float64(sent)
	batch := o.items[:n:n]
	o.items = o.items[n:]
	return batch
}

// write sends batch on ch in a goroutine of its own and reports to the
// loop.
func (c *Client) write(ch *channel, token string, batch [][]byte) {
	ack, epoch := c.lastSeq, c.out.epoch
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		var answers []*frame
		var err error
		if ch.kind == WebSocket {
			err = ch.writeWS(batch)
		} else {
			ctx, cancel := context.WithTimeout(ch.ctx, c.opts.RequestTimeout)
			answers, err = c.post(ctx, ch.base, ch.room, token, ack, batch)
			cancel()
		}
		c.toLoop(func() { c.written(ch, epoch, batch, answers, err) })
	}()
}

// written handles the end of a write.
func (c *Client) written(ch *channel, epoch uint64, batch [][]byte, answers []*frame, err error) {
	o := &c.out
	if o.ch == ch {
		o.busy = false
	}
	if epoch != o.epoch {
		c.flush()
		return // the session ended meanwhile: the answers are moot
	}
	var pe *postError
	switch {
	case err == nil:
		for _, a := range answers {
			if a != nil && a.Type == "error" {
				c.onFrame(a) // errors for posted frames come only in the answer
			}
		}
	case errors.As(err, &pe) && (pe.status == http.StatusBadRequest || pe.status == http.StatusRequestEntityTooLarge):
		c.emit(ErrorEvent{Code: pe.code, Message: pe.Error()}) // a client bug: the frames are lost
	case errors.As(err, &pe) && pe.status == http.StatusTooManyRequests:
		// Over the byte budget: nothing was read. Try again later.
		o.items = append(batch, o.items...)
		o.bytes = 0
		c.arm(&o.timer, time.Second, c.flush)
		return
	default:
		// Unknown whether it arrived: send again once the session is
		// resumed (a duplicate is harmless to the negotiation, a loss is
		// not), even when the channel died meanwhile.
		o.items = append(batch, o.items...)
		if o.ch == ch && c.ch == ch {
			c.failChannel("send failed: " + err.Error())
			return
		}
	}
	c.flush()
}

// clearOutbox drops every waiting frame: the session ended.
func (c *Client) clearOutbox() {
	c.out.items = nil
	c.out.epoch++
}
