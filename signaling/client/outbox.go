package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// The outbox keeps frames waiting for their turn and gets them out on
// the channel in use (web/client/outbox.js). Token buckets keep the
// client below the server's per-session limits, so that a burst of
// candidates waits in order instead of being dropped. The queue belongs
// to the session, not to a channel: frames queued while no channel is up
// go out on the next one once the session is resumed.
//
// Every frame carries its number in the session ("cseq", 1, 2, …): the
// server handles each once and its resumed notice says the last one it
// handled, so frames written into a WebSocket that then died are sent
// again exactly when they were not read. Loop-owned.
type outbox struct {
	items []queued
	// sent are frames written on a WebSocket and not yet known to be
	// handled: a pong (to the ping numbered pinged) or a resume says
	// which were.
	sent []queued
	// writing is the batch a WebSocket write has on its way: its frames
	// join sent when the write ends, and the server may refuse one first.
	writing []queued
	next    uint64  // the last cseq given
	pinged  uint64  // the cseq of the ping waiting for its pong
	tokens  float64 // frames that may go now
	bytes   float64 // bytes that may go now
	at      time.Time
	busy    bool // a write is in flight: one at a time keeps order
	ch      *channel
	token   string
	timer   loopTimer
	epoch   uint64 // bumped when the session ends: answers of older writes are moot
	// retrying is the cseq of the last frame refused unavailable and sent
	// again (0: none, or known handled since), retries how often in a row.
	retrying uint64
	retries  int
}

// refill: a new session starts with full buckets on the server too.
func (c *Client) refillOutbox() {
	c.out.tokens = float64(c.opts.SendBurst)
	c.out.bytes = float64(c.opts.SendByteBurst)
	c.out.at = time.Now()
}

// queued is a frame and its number.
type queued struct {
	cseq uint64
	text []byte
}

// enqueue numbers an encoded frame (a JSON object) and queues it.
func (c *Client) enqueue(text []byte) error {
	if c.sess == nil {
		return ErrNoSession
	}
	numbered := withCSeq(text, c.out.next+1)
	switch {
	case len(numbered) > maxFrameBytes-2:
		return ErrTooLarge
	case len(c.out.items) >= c.opts.MaxQueued:
		return ErrQueueFull
	}
	c.out.next++
	c.out.items = append(c.out.items, queued{c.out.next, numbered})
	c.flush()
	return nil
}

// withCSeq returns a copy of the JSON object text with "cseq":n added.
func withCSeq(text []byte, n uint64) []byte {
	body := text[:len(text)-1] // up to the closing brace
	out := make([]byte, 0, len(text)+32)
	out = append(out, body...)
	if len(body) > 1 {
		out = append(out, ',')
	}
	out = append(out, `"cseq":`...)
	out = strconv.AppendUint(out, n, 10)
	return append(out, '}')
}

// handledUpTo forgets the frames written on a WebSocket up to cseq: the
// server has handled them.
func (c *Client) handledUpTo(cseq uint64) {
	o := &c.out
	n := 0
	for n < len(o.sent) && o.sent[n].cseq <= cseq {
		n++
	}
	o.sent = o.sent[n:]
	if o.retrying <= cseq {
		o.retrying, o.retries = 0, 0
	}
}

// resendUnhandled puts the frames written on a WebSocket that the server
// had not handled (above applied) back at the head of the queue: the
// channel they went on is gone. A channel whose resume says nothing of
// it (a poll) sends them all; the server skips the ones it handled.
func (c *Client) resendUnhandled(applied uint64) {
	c.handledUpTo(applied)
	c.requeue(c.out.sent)
	c.out.sent = nil
}

// requeue puts frames to send again among the waiting ones, in cseq
// order: the server skips a frame numbered below one it handled.
func (c *Client) requeue(frames []queued) {
	o := &c.out
	if len(frames) == 0 {
		return
	}
	merged := make([]queued, 0, len(frames)+len(o.items))
	i, j := 0, 0
	for i < len(frames) || j < len(o.items) {
		switch {
		case j == len(o.items) || i < len(frames) && frames[i].cseq < o.items[j].cseq:
			merged = append(merged, frames[i])
			i++
		case i == len(frames) || o.items[j].cseq < frames[i].cseq:
			merged = append(merged, o.items[j])
			j++
		default: // the same frame twice
			merged = append(merged, frames[i])
			i, j = i+1, j+1
		}
	}
	o.items = merged
}

// useChannel sends on ch from now on; nil stops sending. A write still
// on its way on the channel before stays the only one until it ends
// (written): frames after it must not reach the server before it does,
// or it would find them handled and skip it.
func (c *Client) useChannel(ch *channel, token string) {
	c.out.ch, c.out.token = ch, token
	if ch == nil {
		c.out.timer.stop()
	}
	c.flush()
}

func (c *Client) flush() {
	o := &c.out
	if o.ch == nil || o.busy || o.timer.armed() || len(o.items) == 0 {
		return
	}
	limit, most := maxFrameBytes, wire.MaxBatch // one POST body
	if o.ch.kind == WebSocket {
		limit, most = 1<<30, len(o.items)
	}
	if batch := c.take(limit, most); len(batch) > 0 {
		o.busy = true
		if o.ch.kind == WebSocket {
			o.writing = batch
		}
		c.write(o.ch, o.token, batch)
	}
	if len(o.items) > 0 && !o.busy {
		frames := (1 - o.tokens) / c.opts.SendRate
		bytes := (float64(min(len(o.items[0].text), c.opts.SendByteBurst)) - o.bytes) / float64(c.opts.SendByteRate)
		wait := time.Duration(max(frames, bytes, 0.001) * float64(time.Second))
		c.arm(&o.timer, wait, c.flush)
	}
}

// take removes the frames the buckets let go now, at most maxBytes as
// one JSON array and at most most frames.
func (c *Client) take(maxBytes, most int) []queued {
	o := &c.out
	now := time.Now()
	dt := now.Sub(o.at).Seconds()
	o.at = now
	o.tokens = min(float64(c.opts.SendBurst), o.tokens+dt*c.opts.SendRate)
	o.bytes = min(float64(c.opts.SendByteBurst), o.bytes+dt*float64(c.opts.SendByteRate))
	n, body, sent := 0, 2, 0
	for n < min(len(o.items), most) && float64(n+1) <= o.tokens {
		size := len(o.items[n].text)
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
func (c *Client) write(ch *channel, token string, batch []queued) {
	ack, epoch := c.lastSeq, c.out.epoch
	texts := make([][]byte, len(batch))
	for i, q := range batch {
		texts[i] = q.text
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		var answers []*frame
		var err error
		if ch.kind == WebSocket {
			err = ch.writeWS(texts)
		} else {
			ctx, cancel := context.WithTimeout(ch.ctx, c.opts.RequestTimeout)
			answers, err = c.post(ctx, ch.base, ch.room, token, ack, texts)
			cancel()
		}
		c.toLoop(func() { c.written(ch, epoch, batch, answers, err) })
	}()
}

// written handles the end of a write.
func (c *Client) written(ch *channel, epoch uint64, batch []queued, answers []*frame, err error) {
	o := &c.out
	o.busy = false
	o.writing = nil
	if epoch != o.epoch {
		c.flush()
		return // the session ended meanwhile: the answers are moot
	}
	var pe *postError
	switch {
	case err == nil && ch.kind == WebSocket && ch == c.ch:
		// Written, not yet read: kept until the server says it handled
		// them (bounded: the oldest are let go). A frame the server
		// already refused unavailable waits to go again instead.
		for _, q := range batch {
			if !o.waiting(q.cseq) {
				o.sent = append(o.sent, q)
			}
		}
		if extra := len(o.sent) - c.opts.MaxQueued; extra > 0 {
			o.sent = o.sent[extra:]
		}
	case err == nil && ch.kind == WebSocket:
		c.requeue(batch) // the socket is gone: read or not, nobody will say
	case err == nil:
		for _, a := range answers {
			if a != nil && a.Type == "error" && !c.retryRefused(a, batch, false) {
				c.onFrame(a) // errors for posted frames come only in the answer
			}
		}
		if o.retrying != 0 && !o.waiting(o.retrying) && batch[0].cseq <= o.retrying && o.retrying <= batch[len(batch)-1].cseq {
			o.retrying, o.retries = 0, 0 // it went through
		}
	case errors.As(err, &pe) && (pe.status == http.StatusBadRequest || pe.status == http.StatusRequestEntityTooLarge):
		c.emit(ErrorEvent{Code: pe.code, Message: pe.Error()}) // a client bug: the frames are lost
	case errors.As(err, &pe) && pe.status == http.StatusTooManyRequests:
		// Over the byte budget: nothing was read. Try again later.
		c.requeue(batch)
		o.bytes = 0
		c.arm(&o.timer, time.Second, c.flush)
		return
	default:
		// Unknown whether it arrived: send again once the session is
		// resumed, even when the channel died meanwhile; the server
		// skips what it handled (cseq).
		c.requeue(batch)
		if o.ch == ch && c.ch == ch {
			c.failChannel("send failed: " + err.Error())
			return
		}
	}
	c.flush()
}

// clearOutbox drops every waiting frame: the session ended, and the next
// one numbers its frames from 1.
func (c *Client) clearOutbox() {
	c.out.items, c.out.sent = nil, nil
	c.out.next, c.out.pinged = 0, 0
	c.out.retrying, c.out.retries = 0, 0
	c.out.epoch++
}

// retryRefused takes over an error that refuses a frame unavailable, held
// (written on a WebSocket, or in the POST the error answers): the server
// did not handle it, and handles it once when it comes again under its
// cseq (a relay whose fate it did not know, or any frame after one that
// is to come again first). That frame and every later one held go back
// to the head of the queue, to be sent again after a backoff, up to
// maxResends times in a row; then the error is the caller's, as is any
// other. It reports whether it took f. onSocket says held is o.sent,
// then o.writing.
func (c *Client) retryRefused(f *frame, held []queued, onSocket bool) bool {
	o := &c.out
	if f.Code != wire.CodeUnavailable || f.CSeq == 0 {
		return false
	}
	if o.waiting(f.CSeq) {
		return true // refused with an older one: already going again
	}
	i := slices.IndexFunc(held, func(q queued) bool { return q.cseq == f.CSeq })
	if i < 0 || !relayed(held[i].text) && (o.retrying == 0 || f.CSeq <= o.retrying) {
		return false // a frame the server handled (a join it could not do): its refusal stands
	}
	if f.CSeq == o.retrying {
		o.retries++
	} else {
		o.retrying, o.retries = f.CSeq, 1
	}
	if o.retries > maxResends {
		o.retrying, o.retries = 0, 0
		return false
	}
	again := slices.Clone(held[i:])
	if onSocket {
		o.sent = o.sent[:min(i, len(o.sent)):min(i, len(o.sent))]
	}
	c.requeue(again)
	c.arm(&o.timer, min(resendBackoff<<(o.retries-1), maxResendBackoff), c.flush)
	return true
}

// waiting reports whether the frame numbered cseq waits in the queue.
func (o *outbox) waiting(cseq uint64) bool {
	return slices.ContainsFunc(o.items, func(q queued) bool { return q.cseq == cseq })
}

// relayed reports whether text is a frame the server relays to peers.
func relayed(text []byte) bool {
	var f struct{ Type string }
	return json.Unmarshal(text, &f) == nil && wire.IsRelayed(f.Type)
}

// A frame refused unavailable goes again after resendBackoff, doubled
// each time up to maxResendBackoff (well within the server's wait for it,
// 5 s), at most maxResends times in a row: about 12 s in all, which
// covers a cluster's Redis paused for a few seconds.
const (
	resendBackoff    = 250 * time.Millisecond
	maxResendBackoff = 2 * time.Second
	maxResends       = 8
)
