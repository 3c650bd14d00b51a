package redis

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
)

// Forward implements engine.Engine. The request goes to the session's
// node as a 'q' note on its notice channel; that node's answer comes back
// as an 'a' note on this one's. A node that does not run the session (any
// more) answers at once that it does not, so only a node that is gone
// makes the caller wait, for Config.Timeout.
func (r *Engine) Forward(rec engine.SessionRecord, request []byte) ([]byte, error) {
	reqID := r.cfg.NodeID + "/" + strconv.FormatUint(r.requests.Add(1), 10)
	answer := make(chan forwardAnswer, 1)
	r.mu.Lock()
	r.waiting[reqID] = answer
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, reqID)
		r.mu.Unlock()
	}()
	owner, err := r.run(scriptForward, nil, rec.ID, reqID, request).Text()
	if err != nil || owner == "" {
		return nil, engine.ErrNotRunning
	}
	t := time.NewTimer(r.cfg.Timeout)
	defer t.Stop()
	select {
	case a := <-answer:
		if !a.served {
			return nil, engine.ErrNotRunning
		}
		return a.body, nil
	case <-t.C:
		r.cfg.Logger.Warn("redis: a forwarded request got no answer", "session", rec.ID, "node", owner)
		return nil, engine.ErrNotRunning
	}
}

type forwardAnswer struct {
	served bool
	body   []byte
}

// Answer tags: whether the session's node served the request.
const (
	tagServed    = "1"
	tagNotServed = "0"
)

// answered passes an 'a' note to the Forward waiting for it.
func (r *Engine) answered(reqID, tag string, body []byte) {
	r.mu.Lock()
	ch := r.waiting[reqID]
	r.mu.Unlock()
	if ch != nil {
		select {
		case ch <- forwardAnswer{served: tag == tagServed, body: body}:
		default:
		}
	}
}

// serveForwarded hands a 'q' note's request to the session's mailbox (nil
// when this node does not run it) and publishes the answer to the node
// that asked, named in the request id.
func (r *Engine) serveForwarded(mb engine.Mailbox, reqID string, request []byte) {
	node, _, ok := strings.Cut(reqID, "/")
	if !ok {
		return
	}
	tag, body := tagNotServed, []byte(nil)
	if mb != nil {
		tag, body = tagServed, mb.Forwarded(request)
	}
	note := "a" + reqID + " " + tag + " " + strconv.Itoa(len(body)) + " " + string(body) // body inline
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	if err := r.rdb.Publish(ctx, r.cfg.Prefix+"n:"+node, note).Err(); err != nil {
		r.cfg.Logger.Warn("redis: the answer to a forwarded request was lost", "node", node, "err", err)
	}
}
