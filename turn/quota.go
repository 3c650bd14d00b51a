package turn

import (
	"net"
	"net/netip"
	"sync"
)

// quotas counts live allocations per user, per source (IPv6 by /64, IPv4
// by address: sourceKey) and in total. pion asks QuotaHandler before it
// creates an allocation and reports the outcome on the same goroutine, so
// a reservation is settled by OnAllocationCreated or released by
// OnAllocationError for the same client address.
type quotas struct {
	perUser, perSource, total int // 0 = unlimited

	mu      sync.Mutex
	users   map[string]int
	sources map[netip.Addr]int
	live    int
	pending map[string]holder // client address -> who holds the reservation
	byAlloc map[string]holder // client|local -> who holds the allocation
}

// holder is what one allocation counts against.
type holder struct {
	user   string
	source netip.Addr
}

// Refusal reasons of reserve, in the order it checks them.
const (
	refusedTotal  = "total"
	refusedSource = "source"
	refusedUser   = "user"
)

func newQuotas(perUser, perSource, total int) *quotas {
	return &quotas{perUser: perUser, perSource: perSource, total: total,
		users: make(map[string]int), sources: make(map[netip.Addr]int),
		pending: make(map[string]holder), byAlloc: make(map[string]holder)}
}

// reserve is pion's QuotaHandler; it returns a refusal reason or "".
func (q *quotas) reserve(user string, src net.Addr) string {
	h := holder{user: user, source: sourceKey(src)}
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.total > 0 && q.live >= q.total:
		return refusedTotal
	case q.perSource > 0 && q.sources[h.source] >= q.perSource:
		return refusedSource
	case q.perUser > 0 && q.users[user] >= q.perUser:
		return refusedUser
	}
	q.users[user]++
	q.sources[h.source]++
	q.live++
	q.pending[src.String()] = h
	return ""
}

func (q *quotas) created(src, local net.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := src.String()
	if h, ok := q.pending[key]; ok {
		delete(q.pending, key)
		q.byAlloc[key+"|"+local.String()] = h
	}
}

// failed releases a reservation whose allocation pion could not create;
// it reports whether there was one (an Allocate that failed).
func (q *quotas) failed(src net.Addr) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return false // pion reports every request it refused here: most
	}
	key := src.String()
	h, ok := q.pending[key]
	if ok {
		delete(q.pending, key)
		q.release(h)
	}
	return ok
}

func (q *quotas) deleted(src, local net.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := src.String() + "|" + local.String()
	if h, ok := q.byAlloc[key]; ok {
		delete(q.byAlloc, key)
		q.release(h)
	}
}

func (q *quotas) release(h holder) {
	q.live--
	if q.users[h.user]--; q.users[h.user] <= 0 {
		delete(q.users, h.user)
	}
	if q.sources[h.source]--; q.sources[h.source] <= 0 {
		delete(q.sources, h.source)
	}
}

func (q *quotas) count(user string) (int, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.users[user], q.live
}

// sourceCount reports the live allocations of src's source.
func (q *quotas) sourceCount(src net.Addr) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.sources[sourceKey(src)]
}

// Default quotas, derived from the relay port range so that a quota is
// reached before the ports run out: pion picks relay ports at random and
// gives up (508) after a few taken ones, and the range is shared with the
// kernel's ephemeral ports (Linux's start at 32768).
const (
	// defaultTotalQuotaShare: half the relay ports, so a random pick
	// finds a free port in ten tries with odds of 1023 in 1024.
	defaultTotalQuotaShare = 2
	// defaultSourceQuotaShare and maxDefaultSourceQuota: an eighth of the
	// ports, at most 256 (four users at the default user-quota), so at
	// least four sources fit under the total quota and one address cannot
	// take the relay alone.
	defaultSourceQuotaShare = 8
	maxDefaultSourceQuota   = 256
)

// defaultQuotas derives the total and per-source quotas of a relay port
// range of ports ports.
func defaultQuotas(ports int) (total, perSource int) {
	return max(1, ports/defaultTotalQuotaShare), max(1, min(maxDefaultSourceQuota, ports/defaultSourceQuotaShare))
}
