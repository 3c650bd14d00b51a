package signaling

import (
	"slices"
	"sync"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// Mailbox is where a Router delivers frames for one local session.
type Mailbox interface {
	// Deliver queues frame for sending and must not block. The frame is
	// shared between recipients and must not be modified.
	Deliver(frame []byte)
}

// Router owns room membership and moves encoded frames between the members
// of a room. It is the one seam between a node and the rest of the cluster:
// the in-memory router serves a single node, and a pub/sub router can
// implement the same contract across nodes.
type Router interface {
	// Join adds peer to room with the mailbox that receives its frames.
	// It queues joined(peers already there) to mb, then announce to every
	// other member, with no other Join, Leave or Send of the room in
	// between: nobody hears of the newcomer, or sends it anything, before
	// its joined frame. It fails with ErrRoomFull, queueing nothing, when
	// the room holds limit peers (limit 0: the router's own maximum, which
	// also caps a larger limit).
	Join(room string, peer wire.PeerInfo, mb Mailbox, limit int, joined func(peers []wire.PeerInfo) []byte, announce []byte) error
	// Leave removes the peer from room and queues announce to the members
	// left, as one step. Unknown peers are ignored.
	Leave(room, peerID string, announce []byte)
	// Send delivers frame to peer "to" in room, or to every member but
	// "from" when to is empty. It fails with ErrUnknownPeer when "to" is not
	// a member other than the sender.
	Send(room, from, to string, frame []byte) error
	// Rooms reports how many rooms have members.
	Rooms() int
}

// MemoryRouter is the single-node Router. A room is a small slice: rooms
// hold a handful of peers, where a scan beats hashing and a slice costs a
// fraction of a map's memory.
type MemoryRouter struct {
	maxPeers int

	mu    sync.RWMutex
	rooms map[string][]member
}

type member struct {
	info wire.PeerInfo
	mb   Mailbox
}

// NewMemoryRouter returns a router that admits at most maxPeers per room.
func NewMemoryRouter(maxPeers int) *MemoryRouter {
	return &MemoryRouter{maxPeers: maxPeers, rooms: make(map[string][]member)}
}

// Join implements Router.
func (r *MemoryRouter) Join(room string, peer wire.PeerInfo, mb Mailbox, limit int, joined func([]wire.PeerInfo) []byte, announce []byte) error {
	if limit <= 0 || limit > r.maxPeers {
		limit = r.maxPeers
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	members := r.rooms[room]
	if len(members) >= limit {
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
	r.rooms[room] = append(members, member{info: peer, mb: mb})
	return nil
}

// Leave implements Router.
func (r *MemoryRouter) Leave(room, peerID string, announce []byte) {
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

// Send implements Router.
func (r *MemoryRouter) Send(room, from, to string, frame []byte) error {
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

// Rooms implements Router.
func (r *MemoryRouter) Rooms() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.rooms)
}
