package turn

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// addrLimiter is a token bucket per source address (IPv6 by /64) with a
// bounded table. It limits the 401/438 answers one source can draw, so the
// relay cannot be used to reflect traffic at a spoofed address, and slows
// password guessing.
type addrLimiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[netip.Addr]*addrBucket
}

type addrBucket struct {
	tokens float64
	last   time.Time
}

// maxLimiterEntries bounds the table; a flood from many sources sweeps it.
const maxLimiterEntries = 1 << 16

func newAddrLimiter(perSecond float64, burst int) *addrLimiter {
	return &addrLimiter{rate: perSecond, burst: float64(burst), buckets: make(map[netip.Addr]*addrBucket)}
}

func sourceKey(addr net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

func (l *addrLimiter) allow(addr net.Addr, now time.Time) bool {
	key := sourceKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimiterEntries {
			l.sweep(now)
		}
		b = &addrBucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep drops buckets that have refilled; if that frees nothing the table
// starts over, which at worst hands a few sources a fresh burst.
func (l *addrLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxLimiterEntries {
		clear(l.buckets)
	}
}
