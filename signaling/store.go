package signaling

import (
	"sync"
	"sync/atomic"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// EventLog is one session's replay buffer. Every event is appended here
// before any channel sends it; a channel reads from the position its
// client asked for. The log keeps what the client may still need:
//
//   - events after the taken mark have not reached a channel yet and are
//     never dropped; when they alone pass the bounds, Append fails;
//   - events up to the taken mark were handed to a channel but may be lost
//     in flight, so they are kept for a resume and dropped, oldest first,
//     only to make room;
//   - events up to an Ack are known to be with the client and are dropped.
//
// Its methods are safe for concurrent use.
type EventLog interface {
	// Append numbers frame with the next seq (the first is 1) and keeps
	// it. It fails with ErrLogFull, keeping nothing, when the events no
	// channel has taken would pass the log's bounds.
	Append(frame []byte) (seq uint64, err error)
	// Resume starts a channel at after: the events up to it are
	// acknowledged and the ones after it are untaken again. It returns
	// the newest seq, or ErrReplayGap when events after `after` are no
	// longer kept or `after` is beyond the newest seq.
	Resume(after uint64) (last uint64, err error)
	// Read appends to dst up to max events with seq above after. It fails
	// with ErrReplayGap when the event after `after` is no longer kept.
	Read(after uint64, dst []wire.Event, max int) ([]wire.Event, error)
	// Taken marks the events up to seq as handed to a channel.
	Taken(seq uint64)
	// Ack drops the events up to seq, capped at the taken mark: the
	// client has them.
	Ack(seq uint64)
	// Last reports the newest seq, 0 before the first event.
	Last() uint64
	// Held reports the bytes of events this node keeps in its memory for
	// the log: what a server-wide buffer budget counts (see
	// Config.MaxBufferedBytes). A log kept elsewhere holds none.
	Held() int
}

// SessionRecord is what identifies a session beyond any one channel or
// node: its public id and its secret token.
type SessionRecord struct {
	ID    string
	Token string
}

// Store keeps what a session needs beyond the channel carrying it: its
// record, found by token when a channel asks to resume, and its event log.
// It is the seam for sessions the way Router is for rooms: the embedded
// default keeps them in memory, and a cluster can keep them in a shared
// database so that a client may resume on another node.
type Store interface {
	// Create records a new session and returns its event log.
	Create(rec SessionRecord) EventLog
	// Find returns the record and log of the live session token belongs
	// to, or false.
	Find(token string) (SessionRecord, EventLog, bool)
	// Drop forgets a session and its events when it ends.
	Drop(rec SessionRecord)
	// Held reports the bytes of events every log of this node keeps in
	// its memory together: the sum of their Held.
	Held() int64
}

// ReplayLimits bound each session's replay buffer.
type ReplayLimits struct {
	Events int // most events kept
	Bytes  int // most frame bytes kept
}

// MemoryStore is the single-node Store.
type MemoryStore struct {
	limits ReplayLimits
	held   atomic.Int64 // bytes in every log, with eventOverhead each

	mu       sync.RWMutex
	sessions map[string]*memoryLog // by token; a log knows its record
}

// NewMemoryStore returns a Store whose logs hold at most limits.
func NewMemoryStore(limits ReplayLimits) *MemoryStore {
	return &MemoryStore{limits: limits, sessions: make(map[string]*memoryLog)}
}

// Create implements Store.
func (m *MemoryStore) Create(rec SessionRecord) EventLog {
	log := &memoryLog{limits: &m.limits, held: &m.held, rec: rec}
	m.mu.Lock()
	m.sessions[rec.Token] = log
	m.mu.Unlock()
	return log
}

// Find implements Store.
func (m *MemoryStore) Find(token string) (SessionRecord, EventLog, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	log, ok := m.sessions[token]
	if !ok {
		return SessionRecord{}, nil, false
	}
	return log.rec, log, true
}

// Drop implements Store. The log keeps nothing appended later (a late
// delivery to an ended session must not hold memory the budget no longer
// sees) and its events leave the store's count; the channel still reading
// them, whose closing lets them go, may send what was due.
func (m *MemoryStore) Drop(rec SessionRecord) {
	m.mu.Lock()
	log := m.sessions[rec.Token]
	delete(m.sessions, rec.Token)
	m.mu.Unlock()
	if log != nil {
		log.drop()
	}
}

// Held implements Store.
func (m *MemoryStore) Held() int64 { return m.held.Load() }

// eventOverhead is what an event costs beyond its frame's bytes: the
// Event in the log's slice and the frame's slice header and allocation
// rounding, about. Counted in Held so that many small events are not free.
const eventOverhead = 48

// memoryLog keeps events in a slice that is nil whenever it is empty, so
// an idle, acknowledged session holds no buffer at all.
type memoryLog struct {
	limits *ReplayLimits // the store's
	held   *atomic.Int64 // the store's: bytes of every log
	rec    SessionRecord

	mu     sync.Mutex
	events []wire.Event // ascending, contiguous seqs
	bytes  int          // frame bytes in events
	next   uint64       // seq of the next Append, minus one
	taken  uint64
	gone   bool // dropped from the store: keeps nothing more
}

func (l *memoryLog) Append(frame []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone {
		return 0, ErrLogFull
	}
	for len(l.events) > 0 && (len(l.events) >= l.limits.Events || l.bytes+len(frame) > l.limits.Bytes) {
		if l.events[0].Seq > l.taken {
			return 0, ErrLogFull
		}
		l.dropFirst()
	}
	if len(frame) > l.limits.Bytes {
		return 0, ErrLogFull
	}
	l.next++
	l.events = append(l.events, wire.Event{Seq: l.next, Frame: frame})
	l.bytes += len(frame)
	l.held.Add(int64(len(frame) + eventOverhead))
	return l.next, nil
}

func (l *memoryLog) dropFirst() {
	l.bytes -= len(l.events[0].Frame)
	l.held.Add(-int64(len(l.events[0].Frame) + eventOverhead))
	l.events[0] = wire.Event{}
	l.events = l.events[1:]
	if len(l.events) == 0 {
		l.events = nil
	}
}

// first is the oldest seq kept, or next+1 when none is.
func (l *memoryLog) first() uint64 {
	if len(l.events) == 0 {
		return l.next + 1
	}
	return l.events[0].Seq
}

func (l *memoryLog) Resume(after uint64) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after > l.next || after+1 < l.first() {
		return l.next, ErrReplayGap
	}
	l.taken = after
	l.ackLocked(after)
	return l.next, nil
}

func (l *memoryLog) Read(after uint64, dst []wire.Event, max int) ([]wire.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after+1 < l.first() {
		return dst, ErrReplayGap
	}
	if after >= l.next {
		return dst, nil
	}
	i := int(after + 1 - l.first())
	end := min(len(l.events), i+max)
	return append(dst, l.events[i:end]...), nil
}

func (l *memoryLog) Taken(seq uint64) {
	l.mu.Lock()
	l.taken = max(l.taken, min(seq, l.next))
	l.mu.Unlock()
}

func (l *memoryLog) Ack(seq uint64) {
	l.mu.Lock()
	l.ackLocked(min(seq, l.taken))
	l.mu.Unlock()
}

func (l *memoryLog) ackLocked(seq uint64) {
	for len(l.events) > 0 && l.events[0].Seq <= seq {
		l.dropFirst()
	}
}

// drop takes the log out of the store's count and refuses further
// appends.
func (l *memoryLog) drop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gone = true
	l.held.Add(-int64(l.bytes + len(l.events)*eventOverhead))
	l.held = new(atomic.Int64) // the log's own from now on
}

func (l *memoryLog) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes + len(l.events)*eventOverhead
}

func (l *memoryLog) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}
