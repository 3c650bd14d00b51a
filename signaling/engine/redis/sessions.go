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
	return &redisLog{r: r, id: rec.ID}
}

// Find implements engine.Engine.
func (r *Engine) Find(token string) (engine.SessionRecord, engine.EventLog, bool) {
	if token == "" {
		return engine.SessionRecord{}, nil, false
	}
	id, err := r.run(scriptFind, nil, token).Text()
	if err != nil {
		return engine.SessionRecord{}, nil, false
	}
	return engine.SessionRecord{ID: id, Token: token}, &redisLog{r: r, id: id}, true
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
	r.mu.Lock()
	r.local[rec.ID] = mb
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

// redisLog is a session's EventLog in Redis.
type redisLog struct {
	r  *Engine
	id string
	// acked is the highest seq acknowledged through this handle: repeated
	// acks (the welcome's on every write) cost no round trip.
	acked atomic.Uint64

	// mu orders the scripts that carry a taken mark against Resume, which
	// untakes: a mark sent before a resume must not land after it.
	mu sync.Mutex
	// taken is a taken mark not yet in Redis. It rides with the next
	// read, ack or append: a relayed message then costs the recipient one
	// round trip (its read), not two.
	taken uint64
}

// carry runs script with the kept-back taken mark as its last argument,
// under mu; the mark is kept again when the script fails.
func (l *redisLog) carry(script *goredis.Script, args ...any) *goredis.Cmd {
	l.mu.Lock()
	defer l.mu.Unlock()
	taken := l.taken
	l.taken = 0
	cmd := l.r.run(script, nil, append(args, taken)...)
	if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) {
		l.taken = max(l.taken, taken)
	}
	return cmd
}

func (l *redisLog) Append(frame []byte) (uint64, error) {
	seq, err := l.carry(scriptAppend, l.id, frame).Int64()
	switch {
	case err != nil:
		return 0, fmt.Errorf("%w: %w", errRedis, err)
	case seq < 0:
		return 0, engine.ErrLogFull
	case seq == 0:
		return 0, engine.ErrReplayGap // the session is gone
	}
	return uint64(seq), nil
}

func (l *redisLog) Resume(after uint64) (uint64, error) {
	l.mu.Lock()
	l.taken = 0 // Resume sets the mark to after
	res, err := l.r.run(scriptResume, nil, l.id, after).Int64Slice()
	l.mu.Unlock()
	switch {
	case errors.Is(err, goredis.Nil):
		return 0, engine.ErrReplayGap // the session is gone
	case err != nil:
		return 0, fmt.Errorf("%w: %w", errRedis, err)
	}
	if res[1] != 0 {
		return uint64(res[0]), engine.ErrReplayGap
	}
	l.acked.Store(after)
	return uint64(res[0]), nil
}

func (l *redisLog) Read(after uint64, dst []wire.Event, max int) ([]wire.Event, error) {
	res, err := l.carry(scriptRead, l.id, after, max).Slice()
	if err != nil {
		return dst, fmt.Errorf("%w: %w", errRedis, err)
	}
	if len(res) == 0 || res[0] != int64(0) {
		return dst, engine.ErrReplayGap
	}
	for i, f := range res[1:] {
		s, _ := f.(string)
		dst = append(dst, wire.Event{Seq: after + 1 + uint64(i), Frame: []byte(s)})
	}
	return dst, nil
}

// Taken keeps the mark for the log's next script: see redisLog.taken.
func (l *redisLog) Taken(seq uint64) {
	l.mu.Lock()
	l.taken = max(l.taken, seq)
	l.mu.Unlock()
}

func (l *redisLog) Ack(seq uint64) {
	if seq <= l.acked.Load() {
		return
	}
	upto, err := l.carry(scriptAck, l.id, seq).Uint64()
	if err != nil {
		return // an outage is logged once, by run
	}
	if upto > l.acked.Load() {
		l.acked.Store(upto)
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

// Held implements EventLog: the events are in Redis, not in this node's
// memory (Redis's own maxmemory bounds them).
func (l *redisLog) Held() int { return 0 }

// Held implements engine.Engine: see redisLog.Held.
func (r *Engine) Held() int64 { return 0 }
