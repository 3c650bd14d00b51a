package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// httpIdleConn is one idle session over SSE or long-polling. Its reader
// consumes what arrives (heartbeats, room notices), polls again when a
// long-poll ends empty, and reopens an SSE stream that the server ended
// at its maximum age, resuming where it stopped.
type httpIdleConn struct {
	ctx     context.Context
	sess    *httpSession
	closing atomic.Bool
	done    chan struct{}
	reopens int
}

func (c *httpIdleConn) read(errs *errorLog) {
	defer close(c.done)
	for {
		_, _, err := c.sess.next()
		if err == nil {
			continue
		}
		if c.closing.Load() {
			return
		}
		if errors.Is(err, io.EOF) && c.reopens < maxReopens {
			c.reopens++
			ctx, cancel := context.WithTimeout(c.ctx, closeWait)
			err = c.sess.reopen(ctx)
			cancel()
			if err == nil {
				continue
			}
		}
		if !c.closing.Load() {
			errs.add("dropped", fmt.Errorf("server ended an idle %s channel: %w", c.sess.transport, err))
		}
		return
	}
}

// startClose drops the channel: HTTP has no closing handshake, and the
// session is left to the server's grace period, like a page that went
// away.
func (c *httpIdleConn) startClose(time.Time) {
	c.closing.Store(true)
	c.sess.close()
}

func (c *httpIdleConn) forceClose()            { c.sess.close() }
func (c *httpIdleConn) ended() <-chan struct{} { return c.done }

func (c *httpIdleConn) requests() int {
	if p, ok := c.sess.stream.(*pollStream); ok {
		return p.polls
	}
	return 1 + c.reopens
}
