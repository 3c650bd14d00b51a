package redis

import (
	"context"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/switchboard-rtc/switchboard/signaling/engine"
)

// Forward implements engine.Engine. The request goes to the session's
// node as a 'q' note on its notice channel; that node's answer comes back
// as an 'a' note on this one's. A node that does not run the session (any
// more) answers at once that it does not, so only a node that is gone
// makes the caller wait, for Config.Timeout.
func (r *Engine) Forward(ctx context.Context, rec engine.SessionRecord, request []byte, hold time.Duration) ([]byte, error) {
	// A node that no longer runs the session may have just let it go to
	// another (a poll moved it): ask again whoever runs it now, a few
	// times, before this node takes it over.
	for range forwardTries {
		body, served, err := r.forwardOnce(ctx, rec, request, hold)
		if err != nil || served {
			return body, err
		}
	}
	return nil, engine.ErrNotRunning
}

// forwardTries bounds the nodes asked in turn by one Forward.
const forwardTries = 4

// forwardOnce asks the node that runs the session now. served is false
// when that node answered that it does not run it (any more).
func (r *Engine) forwardOnce(ctx context.Context, rec engine.SessionRecord, request []byte, hold time.Duration) (body []byte, served bool, err error) {
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
	shards := r.locate(rec.ID)
	owner := ""
	for _, cmd := range r.each(shards, func(sh *shard) *goredis.Cmd {
		return sh.run(scriptForward, nil, rec.ID, reqID, request, rec.Token)
	}) {
		if o, err := cmd.Text(); err == nil && o != "" {
			owner = o // one shard at most has the session live
		}
	}
	if owner == "" {
		return nil, false, engine.ErrNotRunning
	}
	t := time.NewTimer(r.cfg.Timeout + hold)
	defer t.Stop()
	select {
	case a := <-answer:
		return a.body, a.served, nil
	case <-ctx.Done():
		return nil, false, context.Cause(ctx)
	case <-t.C:
		r.cfg.Logger.Warn("redis: a forwarded request got no answer", "session", rec.ID, "node", owner)
		return nil, false, engine.ErrNotRunning
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
// that asked, named in the request id, on the shard the request came by.
func (r *Engine) serveForwarded(sh *shard, mb engine.Mailbox, reqID string, request []byte) {
	node, _, ok := strings.Cut(reqID, "/")
	if !ok {
		return
	}
	tag, body := tagNotServed, []byte(nil)
	if mb != nil {
		tag, body = tagServed, mb.Forwarded(request)
	}
	note := "a" + reqID + " " + tag + " " + strconv.Itoa(len(body)) + " " + string(body) // body inline
	if err := sh.publish(node, note); err != nil {
		r.cfg.Logger.Warn("redis: the answer to a forwarded request was lost", "node", node, "err", err)
	}
}
