package client

import (
	"context"
	"net/url"
	"strconv"
	"sync"
)

// A channel carries the session for one attempt (docs/protocol.md,
// "Channels"): it is opened with a cursor, runs its own goroutines and
// reports to the client's loop through Client.frames, in order: frames,
// then at most one end. It never reports after close.

// cursor says which session a channel attaches to (token "" for a new
// one) and the last seq handled.
type cursor struct {
	token string
	after uint64
}

// chanEnd says how a channel ended by itself.
type chanEnd struct {
	code      int    // WebSocket close code or HTTP status; 0 when none
	reason    string // protocol code or what failed
	replaced  bool   // another channel took the session over
	resumeNow bool   // the server asked for a resume at once (4000)
}

// chanMsg is what a channel reports: one frame, the first answer of a
// poll (ready), or its end.
type chanMsg struct {
	ch    *channel
	f     *frame
	ready bool
	end   *chanEnd
}

// channel is one attempt on one transport; the transport's code is in
// ws.go, sse.go and poll.go.
type channel struct {
	kind   Transport
	base   *url.URL // http(s) origin the channel talks to
	room   string   // routing key for a cluster's load balancer, on every request
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc

	// cur is the channel's own cursor, advanced by the frames it reads,
	// so a poll or a reopened event stream asks for what follows them.
	// Only the channel's reader goroutine uses it.
	cur cursor

	mu sync.Mutex
	ws wsConn // the WebSocket once dialed (Conn nil before)
	// held, while not nil, keeps a polling channel from sending its next
	// poll (closed to let it go on): a candidate is taking the session
	// over, and a poll sent meanwhile could reach the server after the
	// candidate's resume and take the session back from it.
	held chan struct{}
}

// hold stops the channel's next poll until release.
func (ch *channel) hold() {
	ch.mu.Lock()
	if ch.held == nil {
		ch.held = make(chan struct{})
	}
	ch.mu.Unlock()
}

// release lets a held channel poll again.
func (ch *channel) release() {
	ch.mu.Lock()
	if ch.held != nil {
		close(ch.held)
		ch.held = nil
	}
	ch.mu.Unlock()
}

// waitHeld waits while the channel is held; false when it closed meanwhile.
func (ch *channel) waitHeld() bool {
	ch.mu.Lock()
	held := ch.held
	ch.mu.Unlock()
	if held == nil {
		return true
	}
	select {
	case <-held:
		return true
	case <-ch.ctx.Done():
		return false
	}
}

// openChannel starts a channel of kind on base.
func (c *Client) openChannel(kind Transport, base *url.URL, room string, cur cursor) *channel {
	ctx, cancel := context.WithCancel(context.Background())
	ch := &channel{kind: kind, base: base, room: room, c: c, ctx: ctx, cancel: cancel, cur: cur}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		switch kind {
		case WebSocket:
			ch.runWS()
		case SSE:
			ch.runSSE()
		default:
			ch.runPoll()
		}
	}()
	return ch
}

// deliver hands m to the loop; false once the channel is closed.
func (ch *channel) deliver(m chanMsg) bool {
	m.ch = ch
	select {
	case ch.c.frames <- m:
		return true
	case <-ch.ctx.Done():
		return false
	}
}

// frame parses raw, advances the channel's cursor and delivers it. An
// unreadable frame is skipped.
func (ch *channel) frame(raw []byte) bool {
	f := parseFrame(raw)
	if f == nil {
		return true
	}
	ch.advance(f)
	return ch.deliver(chanMsg{f: f})
}

func (ch *channel) advance(f *frame) {
	switch {
	case f.Seq == nil:
	case f.Type == "welcome":
		ch.cur = cursor{token: f.Token, after: *f.Seq}
	case *f.Seq > ch.cur.after:
		ch.cur.after = *f.Seq
	}
}

func (ch *channel) end(e chanEnd) {
	ch.deliver(chanMsg{end: &e})
}

// close ends the channel without reporting. bye ends the session too
// (a WebSocket closes with 1000); otherwise the session only detaches.
func (ch *channel) close(bye bool) {
	ch.cancel()
	ch.mu.Lock()
	ws := ch.ws
	ch.mu.Unlock()
	if ws.Conn != nil {
		ws.close(bye)
	}
}

// endpoint is base's path with the channel's room and cursor.
func endpoint(base *url.URL, path, room string, cur cursor, ws bool) string {
	u := *base
	u.Path, u.RawQuery = path, ""
	if ws && u.Scheme == "https" {
		u.Scheme = "wss"
	} else if ws {
		u.Scheme = "ws"
	}
	q := url.Values{}
	if room != "" {
		q.Set("room", room)
	}
	if cur.token != "" {
		q.Set("token", cur.token)
		q.Set("after", strconv.FormatUint(cur.after, 10))
	}
	u.RawQuery = q.Encode()
	return u.String()
}
