package turn

import (
	"net"
	"sync"
)

// quotas counts live allocations per user and in total. pion asks
// QuotaHandler before it creates an allocation and reports the outcome on
// the same goroutine, so a reservation is settled by OnAllocationCreated or
// released by OnAllocationError for the same source.
type quotas struct {
	perUser, total int // 0 = unlimited

	mu      sync.Mutex
	users   map[string]int
	live    int
	pending map[string]string // source address -> user, between check and outcome
	byAlloc map[string]string // source|local -> user, for deletion
}

func newQuotas(perUser, total int) *quotas {
	return &quotas{perUser: perUser, total: total,
		users: make(map[string]int), pending: make(map[string]string), byAlloc: make(map[string]string)}
}

// reserve is pion's QuotaHandler; it returns a refusal reason or "".
func (q *quotas) reserve(user string, src net.Addr) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.total > 0 && q.live >= q.total:
		return "total"
	case q.perUser > 0 && q.users[user] >= q.perUser:
		return "user"
	}
	q.users[user]++
	q.live++
	q.pending[src.String()] = user
	return ""
}

func (q *quotas) created(src, local net.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := src.String()
	if user, ok := q.pending[key]; ok {
		delete(q.pending, key)
		q.byAlloc[key+"|"+local.String()] = user
	}
}

// failed releases a reservation whose allocation pion could not create;
// it reports whether there was one (an Allocate that failed).
func (q *quotas) failed(src net.Addr) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := src.String()
	user, ok := q.pending[key]
	if ok {
		delete(q.pending, key)
		q.release(user)
	}
	return ok
}

func (q *quotas) deleted(src, local net.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := src.String() + "|" + local.String()
	if user, ok := q.byAlloc[key]; ok {
		delete(q.byAlloc, key)
		q.release(user)
	}
}

func (q *quotas) release(user string) {
	q.live--
	if q.users[user]--; q.users[user] <= 0 {
		delete(q.users, user)
	}
}

func (q *quotas) count(user string) (int, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.users[user], q.live
}
