package turn

import (
	"time"

	"golang.org/x/time/rate"
)

// Bandwidth caps are token buckets over relayed payload bytes, one per
// direction as coturn counts them: max-bps per allocation, bps-capacity
// for the whole server. A datagram that does not fit is dropped and
// counted; UDP media recovers from loss better than from queueing.

func newByteBucket(bytesPerSecond int) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	// One second of burst, and never less than one full datagram.
	return rate.NewLimiter(rate.Limit(bytesPerSecond), max(bytesPerSecond, 65535))
}

func (s *Server) newAllocBucket() *rate.Limiter { return newByteBucket(s.cfg.MaxBPS) }

// bandwidthAllows takes n bytes from the allocation's and the server's
// buckets; either may be nil (unlimited).
func (s *Server) bandwidthAllows(alloc, server *rate.Limiter, n int) bool {
	if alloc == nil && server == nil {
		return true
	}
	now := time.Now()
	if alloc != nil && !alloc.AllowN(now, n) {
		return false
	}
	return server == nil || server.AllowN(now, n)
}
