package engine

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// memoryStore keeps sessions for Memory.
type memoryStore struct {
	limits ReplayLimits
	held   atomic.Int64 // bytes in every log, with eventOverhead each

	mu       sync.RWMutex
	sessions map[string]*memoryLog // by id; a log knows its record
}

// Create implements Engine.
func (m *memoryStore) Create(rec SessionRecord) EventLog {
	log := &memoryLog{store: m, rec: rec}
	m.mu.Lock()
	m.sessions[rec.ID] = log
	m.mu.Unlock()
	return log
}

// Find implements Engine. A session restored from a snapshot knows only
// its token's hash until its client shows the token (memory_snapshot.go).
func (m *memoryStore) Find(token string) (SessionRecord, EventLog, error) {
	id := TokenID(token)
	m.mu.RLock()
	log, ok := m.sessions[id]
	m.mu.RUnlock()
	if !ok || !log.owns(token) {
		return SessionRecord{}, nil, ErrNoSession
	}
	return SessionRecord{ID: id, Token: token}, log, nil
}

// Drop implements Engine. The log keeps nothing appended later (a late
// delivery to an ended session must not hold memory the budget no longer
// sees) and its events leave the store's count; the channel still reading
// them, whose closing lets them go, may send what was due.
func (m *memoryStore) Drop(rec SessionRecord) {
	m.mu.Lock()
	log := m.sessions[rec.ID]
	delete(m.sessions, rec.ID)
	m.mu.Unlock()
	if log != nil {
		log.drop()
	}
}

// Held implements Engine.
func (m *memoryStore) Held() int64 { return m.held.Load() }

// eventOverhead is what an event costs beyond its frame's bytes: the
// Event in the log's slice and the frame's slice header and allocation
// rounding, about. Counted in Held so that many small events are not free.
const eventOverhead = 48

// memoryLog keeps events in a slice that is nil whenever it is empty, so
// an idle, acknowledged session holds no buffer at all.
type memoryLog struct {
	// store bounds the log and counts its bytes; nil once the log is
	// dropped: it keeps nothing more. (One pointer for both keeps a log
	// in the 112-byte size class: idle sessions are mostly this.)
	store *memoryStore
	// rec.Token of a session restored from a snapshot, which never holds
	// tokens, is hashedToken: its hash, until a client shows the token.
	rec SessionRecord

	mu     sync.Mutex
	events []wire.Event // ascending, contiguous seqs
	bytes  int          // frame bytes in events
	next   uint64       // seq of the next Append, minus one
	taken  uint64
	// applied is the client's last frame handled (Apply).
	applied uint64
}

// owns reports whether token is the session's, in constant time. A
// restored session learns its token from the first client that shows it.
func (l *memoryLog) owns(token string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	hash, restored := strings.CutPrefix(l.rec.Token, hashedPrefix)
	if !restored {
		return subtle.ConstantTimeCompare([]byte(l.rec.Token), []byte(token)) == 1
	}
	sum := TokenHash(token)
	if subtle.ConstantTimeCompare(sum, []byte(hash)) != 1 {
		return false
	}
	l.rec.Token = token
	return true
}

// hashedPrefix starts a restored session's rec.Token, followed by the
// token's hash: no token made by NewSessionRecord starts with a NUL. (A
// field of its own would move every log out of its allocation class.)
const hashedPrefix = "\x00sha256:"

// TokenHash is what a snapshot keeps of a session's token: its SHA-256.
// Tokens carry 130 random bits, so a plain hash is as strong as the token.
func TokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func (l *memoryLog) Append(frame []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.store == nil {
		return 0, ErrLogFull
	}
	limits := &l.store.limits
	for len(l.events) > 0 && (len(l.events) >= limits.Events || l.bytes+len(frame) > limits.Bytes) {
		if l.events[0].Seq > l.taken {
			return 0, ErrLogFull
		}
		l.dropFirst()
	}
	if len(frame) > limits.Bytes {
		return 0, ErrLogFull
	}
	l.next++
	l.events = append(l.events, wire.Event{Seq: l.next, Frame: frame})
	l.bytes += len(frame)
	l.store.held.Add(int64(len(frame) + eventOverhead))
	return l.next, nil
}

func (l *memoryLog) dropFirst() {
	l.bytes -= len(l.events[0].Frame)
	if l.store != nil {
		l.store.held.Add(-int64(len(l.events[0].Frame) + eventOverhead))
	}
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
	if l.store != nil {
		l.store.held.Add(-int64(l.bytes + len(l.events)*eventOverhead))
		l.store = nil
	}
}

func (l *memoryLog) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes + len(l.events)*eventOverhead
}

func (l *memoryLog) Apply(cseq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cseq <= l.applied {
		return false
	}
	l.applied = cseq
	return true
}

// Relayed implements EventLog: the memory engine keeps one record.
func (l *memoryLog) Relayed(cseq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.applied = max(l.applied, cseq)
}

func (l *memoryLog) Applied() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied
}

func (l *memoryLog) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// LogState is what a memory log keeps, as MemoryLogState reports it.
type LogState struct {
	First, Taken, Next uint64 // oldest seq kept (Next+1: none), taken mark, newest seq
	Events, Bytes      int    // events kept and their frames' bytes
}

// MemoryLogState reports the state of a log of the Memory engine, for
// tests and debugging; false for another engine's log.
func MemoryLogState(log EventLog) (LogState, bool) {
	l, ok := log.(*memoryLog)
	if !ok {
		return LogState{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return LogState{First: l.first(), Taken: l.taken, Next: l.next, Events: len(l.events), Bytes: l.bytes}, true
}
