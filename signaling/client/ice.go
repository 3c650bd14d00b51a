package client

import (
	"context"
	"net/http"
	"time"
)

// TURN credentials expire (docs/protocol.md, "ICE servers and TURN
// credentials"): fetch fresh ones with the session's token at three
// quarters of their lifetime. Loop-owned.
type iceRenewal struct {
	servers []ICEServer // the latest, from welcome, joined or a renewal
	timer   loopTimer
	gen     uint64 // bumped by stop: answers of older fetches are moot
}

// Renewals come at most this often; a failed one is tried again after
// iceRetryBackoff.
var minICERenewal = 30 * time.Second

const iceRetryBackoff = 30 * time.Second

func (r *iceRenewal) stop() {
	r.timer.stop()
	r.gen++
}

// renewICE schedules the renewal of servers handed over just now (by a
// welcome or a joined), forgetting any fetch under way: one that began
// before a joined could answer for the session rather than the room.
func (c *Client) renewICE(servers []ICEServer, ttl time.Duration) {
	c.ice.stop()
	if c.opts.NoICERenewal || ttl <= 0 || !hasCredential(servers) || c.sess == nil {
		return
	}
	c.scheduleICE(c.ice.gen, max(minICERenewal, ttl*3/4))
}

func (c *Client) scheduleICE(gen uint64, delay time.Duration) {
	token := c.sess.token
	room := c.room
	c.arm(&c.ice.timer, delay, func() {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			ctx, cancel := context.WithTimeout(c.ctx, c.opts.RequestTimeout)
			ans, status, err := c.fetchICEServers(ctx, token)
			cancel()
			c.toLoop(func() { c.iceFetched(gen, room, ans, status, err) })
		}()
	})
}

func (c *Client) iceFetched(gen uint64, room string, ans iceAnswer, status int, err error) {
	if gen != c.ice.gen || c.sess == nil {
		return
	}
	switch {
	case err == nil && ans.TTL > 0:
		c.ice.servers = ans.ICEServers
		c.emit(ICEServersChanged{ICEServers: ans.ICEServers, TTL: seconds(ans.TTL), Room: room})
		c.scheduleICE(gen, max(minICERenewal, seconds(ans.TTL)*3/4))
	case status >= http.StatusBadRequest && status < http.StatusInternalServerError:
		// Refused (the session is gone, or, without a room, the server
		// hands out no TURN credentials): the next welcome or joined
		// starts over.
		c.opts.Logger.Debug("signaling: ICE server renewal refused", "status", status, "err", err)
	default:
		c.scheduleICE(gen, iceRetryBackoff) // a failure retries soon
	}
}

func hasCredential(servers []ICEServer) bool {
	for _, s := range servers {
		if s.Credential != "" {
			return true
		}
	}
	return false
}
