package client

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"
)

// Client is a signaling session kept carried by a channel (see the
// package doc). Its methods may be called from any goroutine.
type Client struct {
	opts Options
	home *url.URL // the server's http(s) origin as dialed
	// ctx ends when the client does: requests of its own goroutines.
	ctx     context.Context
	stopCtx context.CancelFunc

	events chan Event
	frames chan chanMsg // from channels, in order
	inbox  chan func()  // run on the loop
	quit   chan struct{}
	done   chan struct{} // closed when the loop has ended
	first  chan struct{} // closed at the first welcome
	wg     sync.WaitGroup
	once   sync.Once

	mu  sync.Mutex // guards pub
	pub snapshot

	// Loop-owned state.
	base        *url.URL // where channels go: home, or the room's owner node
	unreachable map[string]bool
	redial      redial
	ch          *channel
	ready       bool // ch carries the session
	readyAt     time.Time
	candidate   *channel // a channel of a preferred transport being tried
	sess        *session
	lastSeq     uint64 // seq of the last event handled
	replayUntil uint64 // after a resume: the last replayed seq
	target      *joinTarget
	room        string
	joinSent    bool
	joinWaiters []chan joinResult
	pending     map[string]func(*frame, error) // by request id as JSON
	nextID      int
	queue       []Event // received, not yet taken from events
	out         outbox
	ice         iceRenewal
	ended       error // set when the client ends by itself
	resumeNowAt time.Time
	upgradeWait time.Duration
	lastReason  string
	dialFails   int // attempts that failed before the first welcome

	connectT, reconnectT, heartbeatT, pongT, upgradeT loopTimer
}

// session is what the client holds of the server's session.
type session struct {
	id, token string
	heartbeat time.Duration
}

// snapshot is what getters read, published by the loop.
type snapshot struct {
	session, room string
	ice           []ICEServer
	transport     Transport
	connected     bool
	err           error
	lastReason    string
}

// Dial connects to the signaling server at rawURL (its origin, e.g.
// https://meet.example.com, or the ws(s):// URL of /v1/ws) and returns
// once a session is open. ctx bounds the dial only: give it a deadline,
// since the client keeps trying (with backoff and fallback) until a
// channel opens. Close the client when done.
func Dial(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	home, err := serverOrigin(rawURL)
	if err != nil {
		return nil, err
	}
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	c := &Client{
		opts: opts, home: home, base: home, unreachable: map[string]bool{},
		events: make(chan Event), frames: make(chan chanMsg), inbox: make(chan func()),
		quit: make(chan struct{}), done: make(chan struct{}), first: make(chan struct{}),
		pending: map[string]func(*frame, error){}, upgradeWait: opts.UpgradeAfter,
	}
	c.redial = redial{o: &c.opts}
	c.ctx, c.stopCtx = context.WithCancel(context.Background())
	go c.run()
	_ = c.exec(c.dial)
	select {
	case <-c.first:
		return c, nil
	case <-c.done:
		c.Close()
		return nil, c.Err()
	case <-ctx.Done():
		reason := c.snapshot().lastReason
		c.Close()
		return nil, fmt.Errorf("dial %s: %w (last: %s)", home, context.Cause(ctx), reason)
	}
}

// serverOrigin is the http(s) origin of a ws(s) or http(s) URL.
func serverOrigin(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: %q", errBadURL, raw)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "http"
	case "https", "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("%w: %q (want http(s):// or ws(s)://)", errBadURL, raw)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// Events delivers the client's events in order; it is closed when the
// client ends.
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the client has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why the client ended: ErrClosed after Close, ErrReplaced
// when another channel took the session over; nil while it runs.
func (c *Client) Err() error { return c.snapshot().err }

// Session is the public id of the current session ("" between a failed
// resume and the next welcome).
func (c *Client) Session() string { return c.snapshot().session }

// Room is the room the session is in, or "".
func (c *Client) Room() string { return c.snapshot().room }

// Transport is the channel in use or being tried.
func (c *Client) Transport() Transport { return c.snapshot().transport }

// Connected reports whether a channel carries the session now.
func (c *Client) Connected() bool { return c.snapshot().connected }

// ICEServers is the latest list the server handed out (welcome, joined or
// a renewal, whichever came last).
func (c *Client) ICEServers() []ICEServer { return c.snapshot().ice }

func (c *Client) snapshot() snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pub
}

// publish makes the loop's state visible to the getters.
func (c *Client) publish() {
	s := snapshot{room: c.room, ice: c.ice.servers, transport: c.redial.kind(), connected: c.ready && c.sess != nil,
		err: c.ended, lastReason: c.lastReason}
	if c.sess != nil {
		s.session = c.sess.id
	}
	if c.ch != nil {
		s.transport = c.ch.kind
	}
	c.mu.Lock()
	c.pub = s
	c.mu.Unlock()
}

// Close ends the session on purpose (its peers see peer-left at once),
// stops every goroutine of the client and closes Events. It waits at
// most about two seconds for the server to hear the bye.
func (c *Client) Close() error {
	c.once.Do(func() { close(c.quit) })
	<-c.done
	c.wg.Wait()
	return nil
}

// exec runs fn on the loop and returns once it has run; ErrClosed once
// the loop has ended.
func (c *Client) exec(fn func()) error {
	ran := make(chan struct{})
	select {
	case c.inbox <- func() { fn(); close(ran) }:
		<-ran
		return nil
	case <-c.done:
		return ErrClosed
	}
}

// toLoop hands fn to the loop without waiting for it: for the client's
// own goroutines.
func (c *Client) toLoop(fn func()) {
	select {
	case c.inbox <- fn:
	case <-c.done:
	}
}

// run is the loop: the one goroutine that owns the session's state.
func (c *Client) run() {
	defer close(c.done)
	defer close(c.events)
	for {
		var out chan Event
		var head Event
		if len(c.queue) > 0 {
			out, head = c.events, c.queue[0]
		}
		frames := c.frames
		if len(c.queue) >= c.opts.EventQueue || c.ended != nil {
			frames = nil // the server keeps the rest in the replay buffer
		}
		select {
		case out <- head:
			c.queue[0] = nil
			c.queue = c.queue[1:]
		case m := <-frames:
			c.onChanMsg(m)
		case fn := <-c.inbox:
			fn()
		case <-c.quit:
			c.shutdown(ErrClosed)
			return
		}
		if c.ended != nil && len(c.queue) == 0 {
			c.shutdown(c.ended) // ended by itself, and every event delivered
			return
		}
		c.publish()
	}
}

// emit queues an event for Events.
func (c *Client) emit(ev Event) { c.queue = append(c.queue, ev) }

// finish ends the client by itself (the session was taken over).
func (c *Client) finish(err error) {
	if c.ended == nil {
		c.ended = err
	}
}

// shutdown says bye when a session is held, and stops everything.
func (c *Client) shutdown(why error) {
	if c.ended == nil {
		c.ended = why
	}
	c.stopCtx()
	sess, ch := c.sess, c.ch
	wasReady := c.ready
	c.channelGone()
	for _, t := range []*loopTimer{&c.reconnectT, &c.upgradeT, &c.out.timer} {
		t.stop()
	}
	c.ice.stop()
	if c.candidate != nil {
		c.candidate.close(false)
		c.candidate = nil
	}
	if sess != nil && !isReplaced(why) {
		if ch != nil && ch.kind == WebSocket && wasReady {
			ch.close(true) // close 1000 is a bye
		} else {
			if ch != nil {
				ch.close(false)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _ = c.post(ctx, c.base, c.room, sess.token, c.lastSeq, [][]byte{[]byte(`{"type":"bye"}`)})
			cancel()
		}
	} else if ch != nil {
		ch.close(false)
	}
	c.endSession(ErrClosed)
	c.rejectJoinWaiters(ErrClosed)
	c.queue = nil
	c.publish()
	if c.opts.ownHTTP {
		c.opts.HTTPClient.CloseIdleConnections()
	}
}

func isReplaced(err error) bool { return err == ErrReplaced }
