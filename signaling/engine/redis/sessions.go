package redis

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// Create implements engine.Engine. The session runs on this node until another
// adopts it.
func (r *Engine) Create(rec engine.SessionRecord) engine.EventLog {
	_ = r.run(scriptCreate, nil, rec.ID, rec.Token).Err() // adopt, next, reports an outage
	return r.newLog(rec.ID)
}

// Find implements engine.Engine.
func (r *Engine) Find(token string) (engine.SessionRecord, engine.EventLog, bool) {
	id := engine.TokenID(token)
	if id == "" {
		return engine.SessionRecord{}, nil, false
	}
	if _, err := r.run(scriptFind, nil, id, token).Text(); err != nil {
		return engine.SessionRecord{}, nil, false
	}
	return engine.SessionRecord{ID: id, Token: token}, r.newLog(id), true
}

// Drop implements engine.Engine: only the node running the session drops it.
func (r *Engine) Drop(rec engine.SessionRecord) {
	drop := func() error { return r.run(scriptDrop, nil, rec.ID).Err() }
	if drop() != nil {
		r.later("drop", drop)
	}
	r.mu.Lock()
	r.forgetLocked(rec.ID)
	r.mu.Unlock()
}

// Adopt implements engine.Engine.
func (r *Engine) Adopt(rec engine.SessionRecord, mb engine.Mailbox) (string, error) {
	// Registered first: a note sent right after the script must find it.
	// The inbox starts knowing nothing: the first read asks Redis.
	r.mu.Lock()
	if old := r.inboxes[rec.ID]; old != nil {
		old.invalidate()
	}
	r.local[rec.ID] = mb
	r.inboxes[rec.ID] = &inbox{limits: r.cfg.Limits, total: &r.held}
	r.mu.Unlock()
	res, err := r.run(scriptAdopt, nil, rec.ID).Slice()
	if err != nil || len(res) != 1 {
		r.mu.Lock()
		if r.local[rec.ID] == mb {
			r.forgetLocked(rec.ID)
		}
		r.mu.Unlock()
		if err == nil || errors.Is(err, goredis.Nil) {
			return "", engine.ErrReplayGap
		}
		return "", fmt.Errorf("%w: %w", errRedis, err)
	}
	room, _ := res[0].(string)
	if room != "" {
		r.mu.Lock()
		if r.local[rec.ID] == mb {
			r.roomOf[rec.ID] = room
		}
		r.mu.Unlock()
	}
	return room, nil
}

// redisLog is a session's EventLog in Redis. Reads are served from the
// session's inbox when it can (the notices carried the events); the
// taken mark and acks wait on the node for the engine's next batch of
// marks (marks.go): a relayed message costs its recipient's node no
// round trip of its own.
type redisLog struct {
	r  *Engine
	id string
	// acked is the highest seq acknowledged through this handle: repeated
	// acks (the welcome's on every write) cost nothing.
	acked atomic.Uint64

	mu sync.Mutex
	// taken and ack are marks not yet sent to Redis (0: none); taken
	// caps acks at what was handed to a channel since the last Resume.
	pendingTaken, pendingAck, taken uint64
	queued                          bool       // in the engine's batch of marks
	flushing                        bool       // marks of this log are in a batch on the wire
	flushed                         *sync.Cond // signalled when they are back
}

func (r *Engine) newLog(id string) *redisLog {
	l := &redisLog{r: r, id: id}
	l.flushed = sync.NewCond(&l.mu)
	return l
}

// carry runs script with the log's waiting marks as its last two
// arguments, applied first: whatever this node does with the log in Redis
// sees them, as the memory engine's log would. The marks wait again when
// the script fails. Marks already on the wire land first.
func (l *redisLog) carry(script *goredis.Script, args ...any) *goredis.Cmd {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.flushing {
		l.flushed.Wait()
	}
	taken, ack := l.pendingTaken, l.pendingAck
	l.pendingTaken, l.pendingAck = 0, 0
	cmd := l.r.run(script, nil, append(args, taken, ack)...)
	if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) {
		l.pendingTaken = max(l.pendingTaken, taken)
		l.pendingAck = max(l.pendingAck, ack)
	}
	return cmd
}

func (l *redisLog) Append(frame []byte) (uint64, error) {
	res, err := l.carry(scriptAppend, l.id, frame).Slice()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errRedis, err)
	}
	seq, _ := res[0].(int64)
	l.r.dispatchResult(res[1])
	switch {
	case seq < 0:
		return 0, engine.ErrLogFull
	case seq == 0:
		return 0, engine.ErrReplayGap // the session is gone
	}
	return uint64(seq), nil
}

// Resume waits for marks of this log already on the wire and drops the
// ones still waiting: a mark sent before the resume must not land after
// its untaking.
func (l *redisLog) Resume(after uint64) (uint64, error) {
	l.mu.Lock()
	for l.flushing {
		l.flushed.Wait()
	}
	res, err := l.r.run(scriptResume, nil, l.id, after).Int64Slice()
	ok := err == nil && res[1] == 0
	if ok {
		l.pendingTaken, l.pendingAck, l.taken = 0, 0, after
	}
	l.mu.Unlock()
	switch {
	case errors.Is(err, goredis.Nil):
		return 0, engine.ErrReplayGap // the session is gone
	case err != nil:
		return 0, fmt.Errorf("%w: %w", errRedis, err)
	case !ok:
		return uint64(res[0]), engine.ErrReplayGap
	}
	l.acked.Store(after)
	if in := l.r.inboxOf(l.id); in != nil {
		in.ack(after)
	}
	return uint64(res[0]), nil
}

func (l *redisLog) Read(after uint64, dst []wire.Event, max int) ([]wire.Event, error) {
	in := l.r.inboxOf(l.id)
	if in != nil {
		if out, ok := in.read(after, dst, max); ok {
			return out, nil
		}
	}
	res, err := l.carry(scriptRead, l.id, after, max).Slice()
	if err != nil {
		return dst, fmt.Errorf("%w: %w", errRedis, err)
	}
	if len(res) == 0 || res[0] != int64(0) {
		return dst, engine.ErrReplayGap
	}
	start := len(dst)
	for i, f := range res[1:] {
		s, _ := f.(string)
		dst = append(dst, wire.Event{Seq: after + 1 + uint64(i), Frame: []byte(s)})
	}
	if in != nil && len(res)-1 < max { // the log ends here
		in.learned(after, dst[start:])
	}
	return dst, nil
}

// Taken keeps the mark for the engine's next batch of marks.
func (l *redisLog) Taken(seq uint64) {
	l.mu.Lock()
	if seq > l.taken {
		l.taken = seq
		l.pendingTaken = seq
		l.queueLocked()
	}
	l.mu.Unlock()
}

// Ack keeps the mark for the engine's next batch, capped at the taken
// mark, and drops the events up to it from the inbox.
func (l *redisLog) Ack(seq uint64) {
	if seq <= l.acked.Load() {
		return
	}
	l.mu.Lock()
	seq = min(seq, l.taken)
	if seq > l.acked.Load() {
		l.acked.Store(seq)
		l.pendingAck = seq
		l.queueLocked()
	}
	l.mu.Unlock()
	if in := l.r.inboxOf(l.id); in != nil {
		in.ack(seq)
	}
}

// queueLocked puts the log in the engine's next batch of marks.
func (l *redisLog) queueLocked() {
	if !l.queued {
		l.queued = true
		l.r.marks.queue(l)
	}
}

func (l *redisLog) Last() uint64 {
	ctx, cancel := l.r.ctx()
	defer cancel()
	n, err := l.r.rdb.HGet(ctx, l.r.cfg.Prefix+"s:"+l.id, "next").Uint64()
	if err != nil {
		return 0
	}
	return n
}

// Held implements EventLog: the bytes of the session's inbox (the log
// itself is in Redis, bounded by Redis's maxmemory).
func (l *redisLog) Held() int {
	if in := l.r.inboxOf(l.id); in != nil {
		return in.held()
	}
	return 0
}

// Held implements engine.Engine: the bytes of every inbox here.
func (r *Engine) Held() int64 { return r.held.Load() }
