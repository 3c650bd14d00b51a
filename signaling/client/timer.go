package client

import "time"

// loopTimer runs a function on the client's loop after a delay. Arming
// again or stopping makes an earlier firing moot, even one already on
// its way to the loop.
type loopTimer struct {
	t   *time.Timer
	gen uint64
}

func (c *Client) arm(lt *loopTimer, d time.Duration, fn func()) {
	lt.stop()
	gen := lt.gen
	lt.t = time.AfterFunc(d, func() {
		c.toLoop(func() {
			if lt.gen == gen {
				lt.t = nil
				fn()
			}
		})
	})
}

func (lt *loopTimer) stop() {
	if lt.t != nil {
		lt.t.Stop()
		lt.t = nil
	}
	lt.gen++
}

func (lt *loopTimer) armed() bool { return lt.t != nil }
