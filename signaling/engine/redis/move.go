package redis

import (
	"errors"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"
	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// A session lives on its room's shard, so that a relay is one script on
// one shard. Joining a room on another shard moves it there in three
// steps, each idempotent, so that a node dying between two of them loses
// nothing and duplicates nothing:
//
//  1. move_out marks the record on the old shard as moving to the new
//     one and keeps the join there; it answers the record and its kept
//     events. From now on the old record is a stub: scripts that would
//     write to it answer codeMoving, Find and Adopt look past it.
//  2. move_in records the session on the new shard (unless it already
//     is) and joins the room, as join.lua does (unless it already did).
//  3. move_done deletes the stub.
//
// When the node dies after step 1, whichever node the client resumes on
// finds the stub (Find asks every shard) and runs the steps again from
// the first, with the join the stub kept: the join happens once, and the
// client reads its joined frame after the resume as if nothing happened.
// After step 2 the stub only waits to be deleted; Find prefers the live
// record.

// move moves session id, which this node runs on from, to to and joins it
// there to room. The answer is join.lua's.
func (r *Engine) move(id string, from, to *shard, join []any) (any, error) {
	done := make(chan struct{})
	r.mu.Lock()
	r.moving[id] = done
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.moving, id)
		r.mu.Unlock()
		close(done)
	}()
	out, err := from.run(scriptMoveOut, nil, append([]any{id, to.name}, join...)...).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil, engine.ErrReplayGap // gone
	case err != nil:
		return nil, err // step 1 failed or its outcome is unknown: a resume finishes it
	case out == int64(-3):
		return nil, errStillInRoom
	}
	list, ok := out.([]any)
	if !ok || len(list) != 3 {
		return nil, engine.ErrReplayGap // another node runs it
	}
	res, err := r.moveIn(id, to, list)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.where[id] == from {
		r.where[id] = to
	}
	r.mu.Unlock()
	r.moveDone(id, from, to)
	return res, nil
}

// moveIn runs step 2 with what step 1 answered (joinOn: again on a
// timeout, since the step is idempotent).
func (r *Engine) moveIn(id string, to *shard, moved []any) (any, error) {
	fields, _ := moved[0].([]any)
	events, _ := moved[1].([]any)
	join, _ := moved[2].([]any)
	if len(join) != 7 {
		return nil, fmt.Errorf("%w: a moving session without its join", errRedis)
	}
	args := make([]any, 0, len(join)+1+len(fields)+len(events))
	args = append(append(append(append(args, join...), len(fields)/2), fields...), events...)
	return r.joinOn(to, scriptMoveIn, fmt.Sprint(join[0]), id, args)
}

// joinOn runs a join script (join.lua, move_in.lua) on sh, again when its
// answer does not come in time: a join that ran answers {} the second
// time, and is not repeated. Then its notes are lost: the room's members
// here, the newcomer included, read from Redis.
func (r *Engine) joinOn(sh *shard, script *goredis.Script, room, id string, args []any) (any, error) {
	for attempt := 0; ; attempt++ {
		res, err := sh.run(script, []string{sh.roomKey(room)}, args...).Result()
		switch {
		case err != nil && isTimeout(err) && attempt < sendRetries:
			continue
		case err != nil:
			return nil, err
		}
		if list, ok := res.([]any); ok && len(list) == 0 {
			r.refreshRoom(room)
			if mb := r.mailbox(id); mb != nil {
				r.invalidate(id)
				mb.Wake()
			}
		}
		return res, nil
	}
}

// moveDone runs step 3, later if the old shard does not take it now.
func (r *Engine) moveDone(id string, from, to *shard) {
	done := func() error { return from.run(scriptMoveDone, nil, id, to.name).Err() }
	if done() != nil {
		from.later("move", done)
	}
}

// finishMove finishes the move of session id, whose stub Find found on
// from, to the shard named target, and returns that shard (nil when the
// move cannot finish now).
func (r *Engine) finishMove(id string, from *shard, target string) *shard {
	var to *shard
	for _, sh := range r.shards {
		if sh.name == target {
			to = sh
		}
	}
	if to == nil {
		r.cfg.Logger.Error("redis: a session moving to a shard this node does not have", "session", id, "shard", target)
		return nil
	}
	out, err := from.run(scriptMoveOut, nil, id, to.name).Result()
	list, ok := out.([]any)
	if err != nil || !ok || len(list) != 3 {
		return nil
	}
	res, err := r.moveIn(id, to, list)
	if err != nil {
		return nil
	}
	r.dispatchResult(to, res)
	r.moveDone(id, from, to)
	r.cfg.Logger.Info("redis: finished a move between shards that a node left half done", "session", id)
	return to
}

// joinArgs are join.lua's (and move_in.lua's) own first arguments.
func joinArgs(room string, peer wire.PeerInfo, info []byte, limit int, pre, post, announce []byte) []any {
	return []any{room, peer.ID, info, strconv.Itoa(limit), pre, post, announce}
}

// mailbox is session id's mailbox while this node runs it, or nil.
func (r *Engine) mailbox(id string) engine.Mailbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.local[id]
}

// invalidate makes session id's inbox forget what it knew.
func (r *Engine) invalidate(id string) {
	if in := r.inboxOf(id); in != nil {
		in.invalidate()
	}
}

// joinCode reads join.lua's answer.
func joinCode(res any) error {
	switch res {
	case int64(-1):
		return engine.ErrRoomFull
	case int64(-2):
		return engine.ErrReplayGap
	}
	return nil
}
