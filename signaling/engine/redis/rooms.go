package redis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// Join implements engine.Engine. The joined frame is built in Redis from the
// members' stored PeerInfo, between the two halves joined returns around
// a marker peer, so that the list and the announcements are one step.
// mb must be the mailbox the session was adopted with on this node: the
// engine reaches it through its id, so the room is recorded for it only.
func (r *Engine) Join(room string, peer wire.PeerInfo, mb engine.Mailbox, limit int, joined func([]wire.PeerInfo) []byte, announce []byte) error {
	if limit <= 0 || limit > r.cfg.MaxPeers {
		limit = r.cfg.MaxPeers
	}
	pre, post, ok := cutMarker(joined([]wire.PeerInfo{{ID: peersMarker}}))
	if !ok {
		return fmt.Errorf("%w: joined frame without its peer list", errRedis)
	}
	info, _ := json.Marshal(peer)
	args := joinArgs(room, peer, info, limit, pre, post, announce)
	to := r.roomShard(room)
	from := r.shardOf(peer.ID)
	var res any
	var err error
	if from == nil || from == to {
		res, err = r.joinOn(to, scriptJoin, room, peer.ID, args)
	} else {
		if !to.up.Load() {
			return fmt.Errorf("%w: the room's shard", errRedisDown) // before the session leaves its shard
		}
		res, err = r.move(peer.ID, from, to, args)
	}
	if err != nil {
		if errors.Is(err, engine.ErrReplayGap) {
			return err
		}
		return fmt.Errorf("%w: %w", errRedis, err)
	}
	if err := joinCode(res); err != nil {
		return err
	}
	r.mu.Lock()
	if r.local[peer.ID] == mb {
		r.roomOf[peer.ID] = room
	}
	r.mu.Unlock()
	r.dispatchResult(to, res)
	return nil
}

// peersMarker is the peer a joined frame is built around.
const peersMarker = "\x00peers\x00"

// cutMarker cuts a joined frame around its marker peer.
func cutMarker(tmpl []byte) (pre, post []byte, ok bool) {
	mark, _ := json.Marshal(wire.PeerInfo{ID: peersMarker})
	i := bytes.Index(tmpl, mark)
	if i < 0 {
		return nil, nil, false
	}
	return tmpl[:i], tmpl[i+len(mark):], true
}

// Leave implements engine.Engine.
func (r *Engine) Leave(room, peerID string, announce []byte) {
	r.mu.Lock()
	delete(r.roomOf, peerID)
	r.mu.Unlock()
	sh := r.roomShard(room)
	leave := func() error {
		res, err := sh.run(scriptLeave, []string{sh.roomKey(room)}, peerID, announce).Result()
		if err == nil {
			r.dispatchResult(sh, res)
		}
		return err
	}
	// A leave is idempotent (a peer no longer in the room is ignored):
	// one whose answer did not come in time runs again at once; one the
	// shard refused waits for it to be back.
	err := leave()
	for attempt := 0; err != nil && isTimeout(err) && attempt < sendRetries; attempt++ {
		err = leave()
	}
	if err != nil {
		sh.later("leave", leave)
	}
}

// Send implements engine.Engine. A call whose answer did not come in time
// may have run: it is sent again, with the same id, up to sendRetries
// times, and Redis runs a send id once (send.lua). Only when no attempt
// is answered does Send fail with the outcome unknown; the node then
// refuses the frame unavailable and the client sends it again under the
// same cseq, which send.lua relays only if no earlier call did (it keeps
// the sender's last cseq, 'up', with the relay).
func (r *Engine) Send(room, from, to string, frame []byte, cseq uint64) error {
	id := r.cfg.NodeID + ":" + strconv.FormatUint(r.sends.Add(1), 36)
	sh := r.roomShard(room)
	for attempt := 0; ; attempt++ {
		res, err := sh.run(scriptSend, []string{sh.roomKey(room)}, from, to, frame, id, cseq).Result()
		switch {
		case err != nil && isTimeout(err) && attempt < sendRetries:
			continue
		case err != nil:
			return fmt.Errorf("%w: %w", errRedis, err)
		case res == int64(-1):
			return engine.ErrUnknownPeer
		case res == int64(0):
			// It ran on an earlier attempt, whose answer (the notes for
			// this node) was lost: the room's members here read from Redis.
			r.refreshRoom(room)
			return nil
		}
		r.dispatchResult(sh, res)
		return nil
	}
}

// sendRetries bounds the attempts of a send after the first.
const sendRetries = 2

// refreshRoom makes the members of room that run here read their logs
// from Redis: notes for them were lost.
func (r *Engine) refreshRoom(room string) {
	r.mu.Lock()
	var woken []engine.Mailbox
	for id, in := range r.inboxes {
		if r.roomOf[id] == room {
			in.invalidate()
			woken = append(woken, r.local[id])
		}
	}
	r.mu.Unlock()
	for _, mb := range woken {
		mb.Wake()
	}
}

// Rooms implements engine.Engine: the rooms with members on this node.
func (r *Engine) Rooms() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	rooms := make(map[string]struct{}, len(r.roomOf))
	for _, room := range r.roomOf {
		rooms[room] = struct{}{}
	}
	return len(rooms)
}
