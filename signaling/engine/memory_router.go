package engine

import (
	"slices"
	"sync"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// memoryRooms keeps rooms for Memory. A room is a small slice: rooms hold
// a handful of peers, where a scan beats hashing and a slice costs a
// fraction of a map's memory.
type memoryRooms struct {
	maxPeers int

	mu    sync.RWMutex
	rooms map[string][]member
}

type member struct {
	info  wire.PeerInfo
	mb    Mailbox
	limit int // the cap it joined with, which the room keeps
}

// Join implements Engine.
func (r *memoryRooms) Join(room string, peer wire.PeerInfo, mb Mailbox, limit int, joined func([]wire.PeerInfo) []byte, announce []byte) error {
	if limit <= 0 || limit > r.maxPeers {
		limit = r.maxPeers
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	members := r.rooms[room]
	capped := limit
	for _, m := range members {
		capped = min(capped, m.limit)
	}
	if len(members) >= capped {
		return ErrRoomFull
	}
	peers := make([]wire.PeerInfo, 0, len(members))
	for _, m := range members {
		peers = append(peers, m.info)
		m.mb.Deliver(announce)
	}
	// Queued under the lock like the announcements: a member that hears
	// of the newcomer can only reach it after this.
	mb.Deliver(joined(peers))
	r.rooms[room] = append(members, member{info: peer, mb: mb, limit: limit})
	return nil
}

// Leave implements Engine.
func (r *memoryRooms) Leave(room, peerID string, announce []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	members := r.rooms[room]
	i := slices.IndexFunc(members, func(m member) bool { return m.info.ID == peerID })
	if i < 0 {
		return
	}
	members = slices.Delete(members, i, i+1)
	for _, m := range members {
		m.mb.Deliver(announce)
	}
	if len(members) == 0 {
		delete(r.rooms, room)
	} else {
		r.rooms[room] = members
	}
}

// Send implements Engine.
func (r *memoryRooms) Send(room, from, to string, frame []byte, _ uint64) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	members := r.rooms[room]
	if to == "" {
		for _, m := range members {
			if m.info.ID != from {
				m.mb.Deliver(frame)
			}
		}
		return nil
	}
	if to != from {
		for _, m := range members {
			if m.info.ID == to {
				m.mb.Deliver(frame)
				return nil
			}
		}
	}
	return ErrUnknownPeer
}

// Rooms implements Engine.
func (r *memoryRooms) Rooms() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.rooms)
}
