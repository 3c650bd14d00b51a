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

// Create implements engine.Engine. The session runs on this node until
// another adopts it. It starts on the shard its id is placed on among
// those that answer (Find asks them all), and moves to its room's when it
// joins one (move.go).
func (r *Engine) Create(rec engine.SessionRecord) engine.EventLog {
	sh := r.place("s:"+rec.ID, true)
	_ = sh.run(scriptCreate, nil, rec.ID, rec.Token).Err() // adopt, next, reports an outage
	r.mu.Lock()
	r.where[rec.ID] = sh
	r.mu.Unlock()
	return r.newLog(rec.ID, sh)
}

// Find implements engine.Engine. A session runs on one shard, which this
// node knows when it runs the session; otherwise every shard is asked at
// once. A session found half-way through a move between shards (its node
// died between the steps) is moved first.
func (r *Engine) Find(token string) (engine.SessionRecord, engine.EventLog, error) {
	id := engine.TokenID(token)
	if id == "" {
		return engine.SessionRecord{}, nil, engine.ErrNoSession
	}
	r.mu.Lock()
	known := r.where[id]
	r.mu.Unlock()
	shards := r.shards
	if known != nil {
		shards = []*shard{known}
	}
	var live, stub *shard
	var target string
	var applied int64
	var failed error // a shard that did not answer may have it
	for i, cmd := range r.each(shards, func(sh *shard) *goredis.Cmd { return sh.run(scriptFind, nil, id, token) }) {
		v, err := cmd.Result()
		found, isLive := v.([]any)
		switch {
		case errors.Is(err, goredis.Nil):
		case err != nil:
			failed = err
		case isLive && len(found) == 1:
			live = shards[i]
			applied, _ = found[0].(int64)
		default:
			stub, target = shards[i], fmt.Sprint(v)
		}
	}
	if live == nil && stub != nil {
		if live = r.finishMove(id, stub, target); live == nil {
			return engine.SessionRecord{}, nil, fmt.Errorf("%w: the session's move between shards could not be finished", errRedis)
		}
	}
	switch {
	case live == nil && failed != nil:
		return engine.SessionRecord{}, nil, fmt.Errorf("%w: %w", errRedis, failed)
	case live == nil:
		return engine.SessionRecord{}, nil, engine.ErrNoSession
	}
	r.mu.Lock()
	if len(r.found) >= maxFound {
		clear(r.found) // hints only: Adopt asks every shard without one
	}
	r.found[id] = live
	r.mu.Unlock()
	log := r.newLog(id, live)
	log.applied = uint64(max(applied, 0))
	return engine.SessionRecord{ID: id, Token: token}, log, nil
}

// maxFound bounds the shards Find remembers for Adopt.
const maxFound = 10_000

// each runs call on every shard of shards at once and returns their
// answers in order.
func (r *Engine) each(shards []*shard, call func(*shard) *goredis.Cmd) []*goredis.Cmd {
	out := make([]*goredis.Cmd, len(shards))
	if len(shards) == 1 {
		out[0] = call(shards[0])
		return out
	}
	var wg sync.WaitGroup
	for i, sh := range shards {
		wg.Add(1)
		go func() { defer wg.Done(); out[i] = call(sh) }()
	}
	wg.Wait()
	return out
}

// locate is the shards session id may be on: the one this node knows, or
// every shard.
func (r *Engine) locate(id string) []*shard {
	if sh := r.shardOf(id); sh != nil {
		return []*shard{sh}
	}
	return r.shards
}

// shardOf is the shard session id is on as far as this node knows: the
// one it runs the session on, or the one Find saw it on; nil when it does
// not know. It waits for a move of the session between shards to end.
// With one shard there is nothing to look up (and no move): the relay's
// path takes no lock for it.
func (r *Engine) shardOf(id string) *shard {
	if len(r.shards) == 1 {
		return r.shards[0]
	}
	for {
		r.mu.Lock()
		done, sh := r.moving[id], r.where[id]
		if sh == nil {
			sh = r.found[id]
		}
		r.mu.Unlock()
		if done == nil {
			return sh
		}
		<-done // bounded: a move's calls are
	}
}

// Drop implements engine.Engine: only the node running the session drops it.
func (r *Engine) Drop(rec engine.SessionRecord) {
	sh := r.shardOf(rec.ID)
	r.mu.Lock()
	r.forgetLocked(rec.ID)
	delete(r.found, rec.ID)
	r.mu.Unlock()
	if sh == nil {
		return
	}
	drop := func() error { return sh.run(scriptDrop, nil, rec.ID).Err() }
	if drop() != nil {
		sh.later("drop", drop)
	}
}

// Adopt implements engine.Engine.
func (r *Engine) Adopt(rec engine.SessionRecord, mb engine.Mailbox) (string, error) {
	shards := r.locate(rec.ID)
	// Registered first: a note sent right after the script must find it.
	// The inbox starts knowing nothing: the first read asks Redis.
	r.mu.Lock()
	if old := r.inboxes[rec.ID]; old != nil {
		old.invalidate()
	}
	r.local[rec.ID] = mb
	r.inboxes[rec.ID] = &inbox{limits: r.cfg.Limits, total: &r.held}
	delete(r.found, rec.ID)
	r.mu.Unlock()
	var (
		on   *shard
		room string
		err  error
	)
	for i, cmd := range r.each(shards, func(sh *shard) *goredis.Cmd { return sh.run(scriptAdopt, nil, rec.ID) }) {
		res, e := cmd.Slice()
		switch {
		case e == nil && len(res) == 1:
			on = shards[i]
			room, _ = res[0].(string)
		case e != nil && !errors.Is(e, goredis.Nil):
			err = e
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if on == nil {
		if r.local[rec.ID] == mb {
			r.forgetLocked(rec.ID)
		}
		if err != nil {
			return "", fmt.Errorf("%w: %w", errRedis, err)
		}
		return "", engine.ErrReplayGap
	}
	if r.local[rec.ID] == mb {
		r.where[rec.ID] = on
		if room != "" {
			r.roomOf[rec.ID] = room
		}
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
	// home is the shard the session was on when the log was made; the
	// engine's where, kept for the sessions this node runs, wins.
	home *shard
	// acked is the highest seq acknowledged through this handle: repeated
	// acks (the welcome's on every write) cost nothing.
	acked atomic.Uint64

	mu sync.Mutex
	// taken and ack are marks not yet sent to Redis (0: none); taken
	// caps acks at what was handed to a channel since the last Resume.
	pendingTaken, pendingAck, taken uint64
	// applied is the client's last frame handled (Apply, Relayed), as far
	// as this node knows: Redis's, read by Find and Resume, or newer. A
	// relay records it with the send itself (send.lua, then Relayed, which
	// queues no mark); for other frames its mark waits for the next batch,
	// and a node that dies loses the last few milliseconds' (docs/cluster.md,
	// Failures).
	applied, pendingApplied uint64
	queued                  bool       // in the engine's batch of marks
	flushing                bool       // marks of this log are in a batch on the wire
	flushed                 *sync.Cond // signalled when they are back
}

func (r *Engine) newLog(id string, home *shard) *redisLog {
	l := &redisLog{r: r, id: id, home: home}
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
	cmd := l.shard().run(script, nil, append(args, taken, ack)...)
	if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) {
		l.pendingTaken = max(l.pendingTaken, taken)
		l.pendingAck = max(l.pendingAck, ack)
	}
	return cmd
}

// shard is the shard the session is on now.
func (l *redisLog) shard() *shard {
	if sh := l.r.shardOf(l.id); sh != nil {
		return sh
	}
	return l.home
}

// Scripts on a session's log answer codeMoving when it is half-way
// through a move to another shard (move.go): the call runs again once
// the move is over, up to movingTries times.
const (
	codeMoving  = -2
	movingTries = 3
)

func (l *redisLog) Append(frame []byte) (uint64, error) {
	var seq int64
	for range movingTries {
		res, err := l.carry(scriptAppend, l.id, frame).Slice()
		if err != nil {
			return 0, fmt.Errorf("%w: %w", errRedis, err)
		}
		seq, _ = res[0].(int64)
		if seq != codeMoving {
			l.r.dispatchResult(l.shard(), res[1])
			break
		}
	}
	switch {
	case seq == codeMoving:
		return 0, fmt.Errorf("%w: the session is moving between shards", errRedis)
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
	var res []int64
	var err error
	for range movingTries {
		res, err = l.shard().run(scriptResume, nil, l.id, after).Int64Slice()
		if err != nil || res[1] != codeMoving {
			break
		}
	}
	ok := err == nil && res[1] == 0
	if ok {
		l.pendingTaken, l.pendingAck, l.taken = 0, 0, after
	}
	if err == nil {
		l.applied = max(l.applied, uint64(max(res[2], 0)))
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
	var res []any
	var err error
	for range movingTries {
		res, err = l.carry(scriptRead, l.id, after, max).Slice()
		if err != nil {
			return dst, fmt.Errorf("%w: %w", errRedis, err)
		}
		if len(res) == 0 || res[0] != int64(codeMoving) {
			break
		}
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

// Apply implements EventLog; the mark waits for the engine's next batch.
func (l *redisLog) Apply(cseq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cseq <= l.applied {
		return false
	}
	l.applied, l.pendingApplied = cseq, cseq
	l.queueLocked()
	return true
}

// Relayed implements EventLog: send.lua recorded cseq with the relay, so
// no mark is queued for it.
func (l *redisLog) Relayed(cseq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.applied = max(l.applied, cseq)
}

func (l *redisLog) Applied() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied
}

// queueLocked puts the log in the engine's next batch of marks.
func (l *redisLog) queueLocked() {
	if !l.queued {
		l.queued = true
		l.r.marks.queue(l)
	}
}

func (l *redisLog) Last() uint64 {
	sh := l.shard()
	ctx, cancel := sh.ctx()
	defer cancel()
	n, err := sh.rdb.HGet(ctx, sh.prefix+"s:"+l.id, "next").Uint64()
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
