package signaling

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// clientSource is the source r counts against in every per-address
// limit: its client's address, masked to Config.SourcePrefixV4 or V6.
func (s *Server) clientSource(r *http.Request) netip.Addr {
	return sourceOf(s.clientAddr(r), s.cfg.SourcePrefixV4, s.cfg.SourcePrefixV6)
}

// sourceOf masks a to its source prefix: one IPv6 host commonly holds a
// whole /64, and counting its addresses one by one would give it 2^64
// quotas.
func sourceOf(a netip.Addr, v4, v6 int) netip.Addr {
	bits := v6
	if a.Is4() {
		bits = v4
	}
	if p, err := a.Prefix(bits); err == nil {
		return p.Addr()
	}
	return a // the zero Addr: no address known
}

// clientAddr names the client of r: the socket's peer, or, when that peer
// is a trusted proxy, the nearest address before it in X-Forwarded-For
// (or Forwarded) that is not itself a trusted proxy. Headers from anyone
// else are ignored: a client could write any address into them.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	peer := remoteAddr(r.RemoteAddr)
	if !s.trusted(peer) {
		return peer
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return peer // a hop we cannot read: stop trusting the chain
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a
		}
		peer = a
	}
	return peer
}

func remoteAddr(hostport string) netip.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, _ := net.SplitHostPort(hostport)
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor lists the client addresses proxies recorded, nearest last:
// Forwarded's for= parameters (RFC 7239) if present, else X-Forwarded-For.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, line := range h.Values("Forwarded") {
		for _, elem := range strings.Split(line, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(k, "for") {
					continue
				}
				v = strings.Trim(v, `"`)
				if strings.HasPrefix(v, "[") { // "[2001:db8::1]:4711"
					v, _, _ = strings.Cut(v[1:], "]")
				} else if host, _, err := net.SplitHostPort(v); err == nil {
					v = host
				}
				hops = append(hops, v)
			}
		}
	}
	if hops != nil {
		return hops
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(line, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	return hops
}

// sessionCounts counts live sessions per client source.
type sessionCounts struct {
	max int // per address

	mu     sync.Mutex
	counts map[netip.Addr]int // addresses with at least one session
}

// acquire counts a new session of a, or reports that a holds its maximum.
func (c *sessionCounts) acquire(a netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts[a] >= c.max {
		return false
	}
	c.counts[a]++
	return true
}

// add counts a session of a whatever its maximum: one admitted before.
func (c *sessionCounts) add(a netip.Addr) {
	c.mu.Lock()
	c.counts[a]++
	c.mu.Unlock()
}

// full reports whether a holds its maximum, without counting.
func (c *sessionCounts) full(a netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[a] >= c.max
}

func (c *sessionCounts) release(a netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts[a] <= 1 {
		delete(c.counts, a)
	} else {
		c.counts[a]--
	}
}

// keyedLimiters is a token bucket per key (a client address, a room).
// Buckets that are full again are swept: they behave like new ones.
type keyedLimiters[K comparable] struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[K]*rate.Limiter
}

func newKeyedLimiters[K comparable](perSecond float64, burst int) *keyedLimiters[K] {
	return &keyedLimiters[K]{limit: rate.Limit(perSecond), burst: burst, buckets: make(map[K]*rate.Limiter)}
}

func (k *keyedLimiters[K]) allow(key K) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.buckets[key]
	if b == nil {
		b = rate.NewLimiter(k.limit, k.burst)
		k.buckets[key] = b
	}
	return b.Allow()
}

func (k *keyedLimiters[K]) sweep(now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, b := range k.buckets {
		if b.TokensAt(now) >= float64(k.burst) {
			delete(k.buckets, key)
		}
	}
}
