package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// runPoll long-polls GET /v1/poll with the channel's cursor until the
// channel closes or a poll fails.
func (ch *channel) runPoll() {
	first := true
	for ch.ctx.Err() == nil {
		if first && ch.cur.token != "" {
			// A resuming poll is held until an event comes: make one (a
			// pong), so the resume is confirmed at once, not after
			// -poll-wait.
			ch.c.wg.Add(1)
			go func(cur cursor) {
				defer ch.c.wg.Done()
				ctx, cancel := context.WithTimeout(ch.ctx, ch.c.opts.RequestTimeout)
				defer cancel()
				_, _ = ch.c.post(ctx, ch.base, ch.room, cur.token, 0, [][]byte{[]byte(`{"type":"ping"}`)})
			}(ch.cur)
		}
		if !ch.waitHeld() {
			return
		}
		events, e := ch.poll()
		if ch.ctx.Err() != nil {
			return
		}
		if e != nil {
			ch.end(*e)
			return
		}
		for _, raw := range events {
			if !ch.frame(raw) {
				return
			}
		}
		if first {
			first = false
			if !ch.deliver(chanMsg{ready: true}) {
				return
			}
		}
	}
}

// poll makes one request and returns the events it answered.
func (ch *channel) poll() ([]json.RawMessage, *chanEnd) {
	ctx, cancel := context.WithTimeout(ch.ctx, ch.c.opts.PollTimeout)
	defer cancel()
	req, err := ch.c.newRequest(ctx, http.MethodGet, endpoint(ch.base, "/v1/poll", ch.room, ch.cur, false), nil)
	if err != nil {
		return nil, &chanEnd{reason: err.Error()}
	}
	resp, err := ch.c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, &chanEnd{reason: "poll failed: " + err.Error()}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body struct{ Code string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = json.Unmarshal(b, &body)
		reason := body.Code
		if reason == "" {
			reason = fmt.Sprintf("poll answered HTTP %d", resp.StatusCode)
		}
		return nil, &chanEnd{code: resp.StatusCode, reason: reason, replaced: resp.StatusCode == http.StatusConflict || body.Code == wire.CodeReplaced}
	}
	var events []json.RawMessage
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64*maxEventBytes)).Decode(&events); err != nil {
		return nil, &chanEnd{code: resp.StatusCode, reason: "poll answer: " + err.Error()}
	}
	return events, nil
}
