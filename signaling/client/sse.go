package client

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// runSSE reads the session's events from GET /v1/sse. The server ends
// each stream after -sse-max-age: like a browser's EventSource the
// channel then reopens it with its cursor, a resume that stays inside
// the channel (the loop sees a second "resumed"). A stream that fails
// before its first event ends the channel, so the client's backoff and
// fallback take over.
func (ch *channel) runSSE() {
	for {
		e, carried := ch.sseStream()
		if ch.ctx.Err() != nil {
			return
		}
		if e != nil {
			ch.end(*e)
			return
		}
		if !carried {
			ch.end(chanEnd{reason: "event stream ended before its first event"})
			return
		}
	}
}

// sseStream reads one stream. It returns the channel's end, or nil when
// the stream ended by itself after carrying at least one event
// (carried).
func (ch *channel) sseStream() (end *chanEnd, carried bool) {
	req, err := ch.c.newRequest(ch.ctx, http.MethodGet, endpoint(ch.base, "/v1/sse", ch.room, ch.cur, false), nil)
	if err != nil {
		return &chanEnd{reason: err.Error()}, false
	}
	req.Header.Set("Accept", "text/event-stream")
	if ch.cur.token != "" {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(ch.cur.after, 10))
	}
	resp, err := ch.c.opts.HTTPClient.Do(req)
	if err != nil {
		return &chanEnd{reason: err.Error()}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return &chanEnd{code: resp.StatusCode, reason: httpRefusal(resp, fmt.Sprintf("event stream answered HTTP %d", resp.StatusCode))}, false
	}
	r := newSSEReader(resp.Body, maxEventBytes)
	for {
		data, err := r.next()
		if err != nil {
			if !carried {
				return &chanEnd{reason: err.Error()}, false
			}
			return nil, true
		}
		f := parseFrame(data)
		if f == nil {
			continue
		}
		carried = true
		if endsStream(f) {
			return &chanEnd{reason: f.Code, replaced: f.Code == wire.CodeReplaced, resumeNow: f.Code == wire.CodeResume}, true
		}
		ch.advance(f)
		if !ch.deliver(chanMsg{f: f}) {
			return nil, true
		}
	}
}

// endsStream: an error notice (no seq) other than resume_failed, whose
// new session's welcome follows on the same channel, is the server
// ending the stream (replaced, resume, shutdown, slow_consumer, bye…).
func endsStream(f *frame) bool {
	return f.Type == "error" && f.Seq == nil && f.Code != wire.CodeResumeFailed
}
