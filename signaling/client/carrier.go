package client

import (
	"fmt"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// Keeping the session carried by a channel (web/client/carrier.js):
// which channel to open and where, backoff and fallback after one ends,
// going back to the preferred transport, moving to a room's owner node.
// All of it runs on the loop.

// dial opens a channel of the current transport.
func (c *Client) dial() {
	c.reconnectT.stop()
	room := c.room
	if room == "" && c.target != nil {
		room = c.target.room
	}
	c.ch = c.openChannel(c.redial.kind(), c.base, room, c.cursor())
	c.ready = false
	c.emit(StateChanged{State: Connecting, Transport: c.ch.kind, Attempt: c.redial.attempt})
	ch := c.ch
	// A blackholed connect or a buffering proxy can hang for minutes.
	c.arm(&c.connectT, c.opts.ConnectTimeout, func() {
		if c.ch == ch && !c.ready {
			c.failChannel("connect timeout")
		}
	})
}

// cursor is where a new channel takes the session up.
func (c *Client) cursor() cursor {
	if c.sess == nil {
		return cursor{}
	}
	return cursor{token: c.sess.token, after: c.lastSeq}
}

func (c *Client) onChanMsg(m chanMsg) {
	if m.ch == c.candidate {
		if m.end != nil {
			c.upgradeFailed(*m.end)
			return
		}
		c.promote()
	}
	if m.ch != c.ch {
		return // a channel already given up
	}
	switch {
	case m.end != nil:
		if m.end.replaced && c.candidate != nil {
			// Our own candidate took the session over: wait for it.
			c.channelGone()
			return
		}
		c.lastReason = m.end.reason
		c.channelEnded(*m.end)
	case m.ready:
		if !c.ready && c.sess != nil {
			c.resumed(nil)
		}
	default:
		c.onFrame(m.f)
	}
}

// failChannel ends the current channel as failed (no answer in time);
// the session detaches.
func (c *Client) failChannel(reason string) {
	if c.ch == nil {
		return
	}
	c.lastReason = reason
	c.ch.close(false)
	c.channelEnded(chanEnd{reason: reason})
}

// channelGone forgets the current channel and what lives only while one
// carries the session.
func (c *Client) channelGone() {
	c.ch = nil
	c.ready = false
	c.useChannel(nil, "")
	for _, t := range []*loopTimer{&c.connectT, &c.heartbeatT, &c.pongT, &c.upgradeT} {
		t.stop()
	}
}

func (c *Client) channelEnded(e chanEnd) {
	kind := c.ch.kind
	carried := c.ready
	var lived time.Duration
	if carried {
		lived = time.Since(c.readyAt)
	}
	c.channelGone()
	if c.candidate != nil {
		return // the candidate carries on
	}
	if !carried && c.base.String() != c.home.String() {
		// The owner node could not be reached: resume where the session
		// came from, at once.
		c.unreachable[c.base.String()] = true
		c.base = c.home
		if !e.replaced {
			c.emit(ChannelClosed{Transport: kind, Code: e.code, Reason: e.reason, WillReconnect: true})
			c.dial()
			return
		}
	}
	if e.replaced {
		// Another channel carries the session now: stay out of its way.
		c.emit(ChannelClosed{Transport: kind, Code: wire.CloseReplaced, Reason: wire.CodeReplaced})
		c.emit(StateChanged{State: Closed, Transport: kind})
		c.sess = nil // no bye: it is not ours any more
		c.finish(ErrReplaced)
		return
	}
	if c.sess == nil && !c.welcomed() && c.opts.DialAttempts > 0 {
		if c.dialFails++; c.dialFails >= c.opts.DialAttempts {
			c.queue = nil // Dial has not returned: nobody has read them
			c.finish(fmt.Errorf("%w after %d attempts: %s", errDialFailed, c.dialFails, e.reason))
			return
		}
	}
	c.emit(ChannelClosed{Transport: kind, Code: e.code, Reason: e.reason, WillReconnect: true})
	if e.resumeNow && time.Since(c.resumeNowAt) > time.Second {
		c.resumeNowAt = time.Now() // at once, but never in a tight loop
		c.dial()
		return
	}
	delay := c.redial.ended(lived, c.sess != nil)
	if lived < c.opts.StableAfter {
		c.judgeEnd(e)
	}
	c.emit(StateChanged{State: Reconnecting, Transport: c.redial.kind(), Attempt: c.redial.attempt, Delay: delay})
	c.arm(&c.reconnectT, delay, c.redialNow)
}

// judgeEnd takes back the failure a channel's end counted unless it
// speaks against the transport: a server that closed the socket with a
// code of its own (a restart's 1001 or 4000) ended it on purpose, and
// a server that does not answer plain HTTP now (or answers 5xx, as a
// proxy does while its node restarts) is away, not refusing the channel.
// Only a transport that fails while the server answers is given up.
func (c *Client) judgeEnd(e chanEnd) {
	if e.code >= 1000 && e.code < 5000 && e.code != 1005 && e.code != 1006 && e.code != 1015 {
		c.redial.forgive()
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ok := c.reachable(c.ctx)
		c.toLoop(func() {
			if !ok {
				c.redial.forgive()
			}
		})
	}()
}

// welcomed reports whether a first session has begun (Dial returned).
func (c *Client) welcomed() bool {
	select {
	case <-c.first:
		return true
	default:
		return false
	}
}

// redialNow dials again; after FallbackAfter failures the next transport
// gets a turn, but only when the server answers plain HTTP.
func (c *Client) redialNow() {
	if !c.redial.wantsFallback() {
		c.dial()
		return
	}
	probe := &c.reconnectT
	probe.stop()
	gen := probe.gen
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ok := c.reachable(c.ctx)
		c.toLoop(func() {
			if probe.gen != gen || c.ch != nil {
				return // dialed meanwhile
			}
			if ok {
				c.redial.fallback()
			}
			c.dial()
		})
	}()
}

// established: the channel carries the session (welcome or resume).
func (c *Client) established(resumed bool) {
	c.connectT.stop()
	if !c.ready {
		c.ready = true
		c.readyAt = time.Now()
		c.emit(StateChanged{State: Open, Transport: c.ch.kind, Resumed: resumed})
	}
	if hb := c.sess.heartbeat; hb > 0 {
		c.armHeartbeat(hb)
	}
	c.useChannel(c.ch, c.sess.token)
	if c.ch.kind != c.opts.Transports[0] && c.opts.UpgradeAfter >= 0 && c.opts.Transports[0] != Poll {
		c.arm(&c.upgradeT, c.upgradeWait, c.tryUpgrade)
	}
}

// armHeartbeat pings every heartbeat: a half-open channel (a laptop
// waking up, a NAT dropping state, an event stream stuck in a proxy) is
// only noticed by an unanswered ping.
func (c *Client) armHeartbeat(hb time.Duration) {
	c.arm(&c.heartbeatT, hb, func() {
		c.armHeartbeat(hb)
		if c.pongT.armed() || !c.ready || c.enqueue([]byte(`{"type":"ping"}`)) != nil {
			return
		}
		c.out.pinged = c.out.next
		ch := c.ch
		c.arm(&c.pongT, hb, func() {
			if c.ch == ch {
				c.failChannel("heartbeat timeout")
			}
		})
	})
}

// tryUpgrade opens a channel of the preferred transport beside the one in
// use, resuming the session from the last event handled: the server hands
// the session to it and replaces the old one; events both carried are
// handled once (by seq). If it fails, the old channel goes on and the
// next try waits twice as long.
func (c *Client) tryUpgrade() {
	if c.candidate != nil || c.ch == nil || !c.ready || c.sess == nil {
		return
	}
	c.ch.hold() // no poll may cross the candidate's resume
	c.candidate = c.openChannel(c.opts.Transports[0], c.base, c.ch.room, c.cursor())
	cand := c.candidate
	c.arm(&c.upgradeT, c.opts.ConnectTimeout, func() {
		if c.candidate == cand {
			cand.close(false)
			c.upgradeFailed(chanEnd{reason: "connect timeout"})
		}
	})
}

func (c *Client) upgradeFailed(e chanEnd) {
	cand := c.candidate
	c.candidate = nil
	c.upgradeT.stop()
	c.upgradeWait = min(2*c.upgradeWait, maxUpgradeDelay)
	c.opts.Logger.Debug("signaling: preferred transport still fails", "transport", cand.kind, "reason", e.reason)
	if c.ch == nil {
		// The old channel is gone (the candidate had taken over before
		// failing): reconnect as after any end.
		c.ch = cand
		c.channelEnded(e)
		return
	}
	c.ch.release()
	if c.ready {
		c.arm(&c.upgradeT, c.upgradeWait, c.tryUpgrade)
	}
}

// promote makes the candidate the channel in use.
func (c *Client) promote() {
	old := c.ch
	c.channelGone()
	if old != nil {
		old.close(false)
	}
	c.ch, c.candidate = c.candidate, nil
	c.redial.preferred()
	c.upgradeWait = c.opts.UpgradeAfter
}

// follow moves the session to the room's owner node: the channel
// detaches (no bye) and a new one resumes on the owner with the last seq
// handled, so nothing is lost or handled twice; frames sent meanwhile
// wait in the outbox.
func (c *Client) follow(owner string) {
	if c.opts.NoFollowOwner || c.ch == nil || !c.ready || c.candidate != nil {
		return
	}
	to := ownerOrigin(owner, c.home)
	if to == nil || to.String() == c.base.String() || c.unreachable[to.String()] {
		return
	}
	from := c.base
	c.base = to
	old := c.ch
	c.channelGone()
	old.close(false)
	c.emit(Moving{From: from.String(), To: to.String()})
	c.dial()
}
