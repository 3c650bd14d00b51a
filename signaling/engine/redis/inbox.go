package redis

import (
	"sync"
	"sync/atomic"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// inbox keeps, for a session this node runs, the events the scripts
// appended to its log in Redis, as their notices carried them: a channel
// reads them here, so a relayed message costs its recipient's node no
// round trip. The log in Redis stays the truth; the inbox answers only
// what it knows for certain and sends everything else there:
//
//   - it holds every event from base+1 to base+len(events), in order;
//   - events that came ahead of a missing one wait in loose until it
//     comes (notices from the node's own scripts and from other nodes
//     arrive on different connections, so they may cross);
//   - it knows nothing (valid false) until a read from Redis told it
//     where the log ends, and again after notices may have been lost
//     (Redis unreachable, a subscription dropped).
type inbox struct {
	limits engine.ReplayLimits
	total  *atomic.Int64 // the bytes every inbox of the node holds

	mu     sync.Mutex
	valid  bool
	base   uint64
	events []wire.Event
	loose  map[uint64][]byte
	bytes  int // of events and loose
}

// put keeps an event a notice carried.
func (b *inbox) put(seq uint64, frame []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.valid && seq <= b.base+uint64(len(b.events)) {
		return // already here, or trimmed
	}
	if b.valid && seq == b.base+uint64(len(b.events))+1 {
		b.events = append(b.events, wire.Event{Seq: seq, Frame: frame})
		b.grow(len(frame))
		b.absorb()
	} else {
		if b.loose == nil {
			b.loose = make(map[uint64][]byte)
		}
		if _, ok := b.loose[seq]; !ok {
			b.loose[seq] = frame
			b.grow(len(frame))
		}
	}
	b.bound()
}

// absorb moves the loose events that now follow on into events.
func (b *inbox) absorb() {
	for len(b.loose) > 0 {
		next := b.base + uint64(len(b.events)) + 1
		f, ok := b.loose[next]
		if !ok {
			return
		}
		delete(b.loose, next)
		b.events = append(b.events, wire.Event{Seq: next, Frame: f})
	}
}

// bound drops the oldest events past the replay limits (a reader then
// finds them in Redis), and forgets everything when loose events alone
// pass them: the missing one may never come.
func (b *inbox) bound() {
	for len(b.events) > 0 && (len(b.events)+len(b.loose) > b.limits.Events || b.bytes > b.limits.Bytes) {
		b.trimOne()
	}
	if len(b.loose) > b.limits.Events || b.bytes > b.limits.Bytes {
		b.reset()
	}
}

// grow counts n more bytes held (n < 0: fewer).
func (b *inbox) grow(n int) {
	b.bytes += n
	b.total.Add(int64(n))
}

func (b *inbox) trimOne() {
	b.grow(-len(b.events[0].Frame))
	b.events[0] = wire.Event{}
	b.events = b.events[1:]
	b.base++
}

// reset forgets everything: reads go to Redis until one tells where the
// log ends again.
func (b *inbox) reset() {
	b.valid = false
	b.base = 0
	b.events = nil
	b.loose = nil
	b.grow(-b.bytes)
}

// invalidate is reset under the lock: notices may have been lost.
func (b *inbox) invalidate() {
	b.mu.Lock()
	b.reset()
	b.mu.Unlock()
}

// read appends to dst up to max events after `after`. ok false means the
// inbox cannot answer for certain: the caller reads from Redis.
func (b *inbox) read(after uint64, dst []wire.Event, max int) (_ []wire.Event, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	last := b.base + uint64(len(b.events))
	if !b.valid || after < b.base || after > last {
		return dst, false
	}
	if after == last && len(b.loose) > 0 {
		return dst, false // a missing event: Redis has it
	}
	for _, ev := range b.events[after-b.base:] {
		if max == 0 {
			break
		}
		dst = append(dst, ev)
		max--
	}
	return dst, true
}

// learned records what a read from Redis found: the log's events after
// `after` are exactly got, and there are no more. Notices for later
// events may already be loose here; they now follow on.
func (b *inbox) learned(after uint64, got []wire.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	last := after + uint64(len(got))
	if b.valid && last <= b.base+uint64(len(b.events)) {
		return // knows as much already
	}
	for _, ev := range b.events {
		b.grow(-len(ev.Frame))
	}
	clear(b.events)
	b.events = b.events[:0]
	b.base = last
	b.valid = true
	for seq, f := range b.loose {
		if seq <= last {
			delete(b.loose, seq)
			b.grow(-len(f))
		}
	}
	b.absorb()
	b.bound()
}

// ack drops the events up to seq: the client has them.
func (b *inbox) ack(seq uint64) {
	b.mu.Lock()
	for len(b.events) > 0 && b.events[0].Seq <= seq {
		b.trimOne()
	}
	b.mu.Unlock()
}

// held reports the bytes the inbox keeps.
func (b *inbox) held() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bytes
}
