package client

import (
	"math/rand/v2"
	"time"
)

// redial decides when and on which transport to reconnect
// (web/client/reconnect.js).
type redial struct {
	o        *Options
	attempt  int // tries since the last stable channel
	ti       int // index of the transport in use or next to try
	failures int // consecutive failed attempts on it
}

func (r *redial) kind() Transport { return r.o.Transports[r.ti] }

// ended: a channel ended (not on purpose) after carrying the session for
// lived (0: it never got that far). It returns the delay before the next
// try: capped exponential backoff with "equal jitter", half fixed, half
// random, so a server restart is not met by a synchronized stampede.
// While a session is held (resumable) the cap is ResumeBackoffCap.
func (r *redial) ended(lived time.Duration, resumable bool) time.Duration {
	if lived >= r.o.StableAfter {
		r.attempt, r.failures = 0, 0
	} else {
		r.failures++
	}
	limit := r.o.BackoffCap
	if resumable {
		limit = min(limit, r.o.ResumeBackoffCap)
	}
	ceiling := limit
	if r.attempt < 30 {
		ceiling = min(limit, r.o.BackoffBase<<r.attempt)
	}
	r.attempt++
	return ceiling/2 + rand.N(ceiling/2+1)
}

// forgive takes back a failure ended counted: the server was away (a
// restart), which says nothing against the transport.
func (r *redial) forgive() {
	r.failures = max(r.failures-1, 0)
}

// wantsFallback: the transport keeps failing and there is another.
func (r *redial) wantsFallback() bool {
	return r.failures >= r.o.FallbackAfter && len(r.o.Transports) > 1
}

// fallback moves on to the next transport, round the list.
func (r *redial) fallback() {
	r.ti = (r.ti + 1) % len(r.o.Transports)
	r.failures = 0
}

// preferred goes back to the first transport (it carries the session again).
func (r *redial) preferred() {
	r.ti, r.failures = 0, 0
}
