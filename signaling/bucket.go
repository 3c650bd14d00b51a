package signaling

import (
	"sync"
	"time"
)

// bucket is a token bucket small enough to hold two in every session: it
// keeps only its level, and takes rate and burst from the caller (the
// server's config). golang.org/x/time/rate's Limiter costs four times the
// memory, per limit, per session.
type bucket struct {
	mu     sync.Mutex
	tokens float64 // may go below zero: a debt that take makes the caller wait out
	last   int64   // monoNow of the last refill; 0 means full
}

// monoNow is nanoseconds on the monotonic clock, never 0. Limits are
// checked on every frame: time.Now reads the wall clock as well, which
// doubled the clock's share of the relay's CPU.
func monoNow() int64 { return int64(time.Since(monoEpoch)) + 1 }

var monoEpoch = time.Now()

// level refills the bucket up to now; mu must be held.
func (b *bucket) level(now int64, rate, burst float64) float64 {
	if b.last == 0 {
		b.tokens = burst
	} else if now > b.last {
		b.tokens = min(burst, b.tokens+float64(now-b.last)*rate/1e9)
	}
	b.last = now
	return b.tokens
}

// allow takes n tokens if the bucket holds them.
func (b *bucket) allow(n, rate, burst float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.level(monoNow(), rate, burst) < n {
		return false
	}
	b.tokens -= n
	return true
}

// take takes n tokens, going into debt if it must, and says how long the
// caller should wait for the debt to be paid off.
func (b *bucket) take(n, rate, burst float64) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = b.level(monoNow(), rate, burst) - n
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / rate * 1e9)
}
