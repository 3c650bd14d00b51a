package engine

import (
	"context"
	"time"
)

// DefaultMaxPeers is the room size an engine caps rooms at when its
// configuration does not say.
const DefaultMaxPeers = 16

// MemoryConfig configures the single-node engine. Zero values take the
// documented defaults.
type MemoryConfig struct {
	// MaxPeers caps room size. Defaults to DefaultMaxPeers.
	MaxPeers int
	// Limits bound each session's replay log. Default to 1024 events and
	// 1 MiB.
	Limits ReplayLimits
}

func (c *MemoryConfig) setDefaults() {
	if c.MaxPeers == 0 {
		c.MaxPeers = DefaultMaxPeers
	}
	c.Limits.SetDefaults()
}

// Memory is the single-node Engine: rooms and sessions in this process.
// Its sessions never leave the node, so it is always ready and places
// every room here.
type Memory struct {
	memoryRooms
	memoryStore
}

// NewMemory returns a single-node engine.
func NewMemory(cfg MemoryConfig) *Memory {
	cfg.setDefaults()
	return &Memory{
		memoryRooms: memoryRooms{maxPeers: cfg.MaxPeers, rooms: make(map[string][]member)},
		memoryStore: memoryStore{limits: cfg.Limits, sessions: make(map[string]*memoryLog)},
	}
}

// Adopt implements Engine: the node runs every session it has, so this
// only checks that rec's is live.
func (m *Memory) Adopt(rec SessionRecord, _ Mailbox) (string, error) {
	if found, _, err := m.Find(rec.Token); err != nil || found.ID != rec.ID {
		return "", ErrReplayGap
	}
	return "", nil
}

// Send implements Engine. A node's Send never has an unknown outcome,
// so a numbered frame comes again only from a caller that already had it
// relayed: the sender's log says so (Applied), and the frame is skipped.
func (m *Memory) Send(room, from, to string, frame []byte, cseq uint64) error {
	if cseq != 0 {
		m.memoryStore.mu.RLock()
		log := m.sessions[from]
		m.memoryStore.mu.RUnlock()
		if log != nil && cseq <= log.Applied() {
			return nil
		}
	}
	return m.memoryRooms.Send(room, from, to, frame, cseq)
}

var _ Persister = (*Memory)(nil)

// Shared implements Engine: sessions end with the node (or, saved, with
// the state file: Persister).
func (m *Memory) Shared() bool { return false }

// HandOver implements Engine: there is nobody to hand sessions to.
func (m *Memory) HandOver() error { return nil }

// Ready implements Engine: a single node is always ready.
func (m *Memory) Ready() error { return nil }

// RoomOwner implements Engine: every room is this node's.
func (m *Memory) RoomOwner(string) string { return "" }

// Forward implements Engine: no other node runs anything.
func (m *Memory) Forward(context.Context, SessionRecord, []byte, time.Duration) ([]byte, error) {
	return nil, ErrNotRunning
}
