package turn

import (
	"context"
	"time"
)

// Drain stops new allocations (Allocate is answered 486) and keeps the
// existing ones. TCP and TLS connections that hold no allocation end at
// once: their clients see EOF now, not when the drain ends.
func (s *Server) Drain() {
	s.draining.Store(true)
	for _, l := range s.listeners {
		l.closeIdle()
	}
}

// WaitIdle returns when no allocation is left, or with ctx's cause.
func (s *Server) WaitIdle(ctx context.Context) error {
	for {
		if s.Allocations() == 0 {
			return nil
		}
		// The deleted signal wakes us; the tick covers allocations that
		// end inside pion without an event (its Close on shutdown).
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-s.deleted:
		case <-time.After(time.Second):
		}
	}
}
