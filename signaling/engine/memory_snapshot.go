package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// SavedSession is a session of the Memory engine as a snapshot keeps it
// across a restart of its node (Persister): everything its log and its
// room hold, and its token's hash, never the token.
type SavedSession struct {
	ID        string
	TokenHash []byte // TokenHash(token)
	// Room is "" for a session in none; Name is its PeerInfo.Name there
	// and Limit the cap it joined with.
	Room      string
	Name      string
	ClientTag string
	Limit     int
	// Next is the newest seq, Taken the taken mark, Frames the events
	// kept: the last one is seq Next.
	Next   uint64
	Taken  uint64
	Frames [][]byte
	// Applied is the client's last frame handled (EventLog.Applied).
	Applied uint64
}

// Check reports what makes s unusable, nil when nothing does.
func (s *SavedSession) Check() error {
	switch {
	case s.ID == "" || strings.Contains(s.ID, ".") || len(s.ID) > 64:
		return fmt.Errorf("%w: session id %q", ErrBadSnapshot, wire.Truncate(s.ID, 64))
	case len(s.TokenHash) != 32:
		return fmt.Errorf("%w: session %s: token hash of %d bytes", ErrBadSnapshot, s.ID, len(s.TokenHash))
	case s.Next > wire.MaxSeq || s.Taken > s.Next || uint64(len(s.Frames)) > s.Next || s.Applied > wire.MaxSeq:
		return fmt.Errorf("%w: session %s: seqs next %d, taken %d, %d events, applied %d", ErrBadSnapshot, s.ID, s.Next, s.Taken, len(s.Frames), s.Applied)
	case (s.Room == "") != (s.Limit == 0) || s.Limit < 0:
		return fmt.Errorf("%w: session %s: room %q with limit %d", ErrBadSnapshot, s.ID, wire.Truncate(s.Room, 64), s.Limit)
	case s.Room == "" && (s.Name != "" || s.ClientTag != ""):
		return fmt.Errorf("%w: session %s: a name or client tag without a room", ErrBadSnapshot, s.ID)
	}
	return nil
}

// Save implements Persister. Members of a room come in the room's order,
// so that Restore keeps the order joined lists peers in.
func (m *Memory) Save() []SavedSession {
	m.memoryRooms.mu.RLock()
	defer m.memoryRooms.mu.RUnlock()
	m.memoryStore.mu.RLock()
	defer m.memoryStore.mu.RUnlock()
	saved := make([]SavedSession, 0, len(m.sessions))
	inRoom := make(map[string]bool)
	names := make([]string, 0, len(m.rooms))
	for room := range m.rooms {
		names = append(names, room)
	}
	slices.Sort(names)
	for _, room := range names {
		for _, mem := range m.rooms[room] {
			log := m.sessions[mem.info.ID]
			if log == nil {
				continue // not a session of this engine's: nothing to resume
			}
			s := log.save()
			s.Room, s.Name, s.ClientTag, s.Limit = room, mem.info.Name, mem.info.ClientTag, mem.limit
			saved = append(saved, s)
			inRoom[mem.info.ID] = true
		}
	}
	for id, log := range m.sessions {
		if !inRoom[id] {
			saved = append(saved, log.save())
		}
	}
	return saved
}

func (l *memoryLog) save() SavedSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := SavedSession{ID: l.rec.ID, Next: l.next, Taken: l.taken, Applied: l.applied}
	if hash, ok := strings.CutPrefix(l.rec.Token, hashedPrefix); ok {
		s.TokenHash = []byte(hash) // restored, and not resumed since
	} else {
		s.TokenHash = TokenHash(l.rec.Token)
	}
	for _, ev := range l.events {
		s.Frames = append(s.Frames, ev.Frame)
	}
	return s
}

// Restore implements Persister: all of saved, or nothing.
func (m *Memory) Restore(saved []SavedSession, mailbox func(SessionRecord, EventLog) Mailbox) error {
	seen := make(map[string]bool, len(saved))
	for i := range saved {
		if err := saved[i].Check(); err != nil {
			return err
		}
		if seen[saved[i].ID] {
			return fmt.Errorf("%w: session %s twice", ErrBadSnapshot, saved[i].ID)
		}
		seen[saved[i].ID] = true
	}
	m.memoryRooms.mu.Lock()
	defer m.memoryRooms.mu.Unlock()
	m.memoryStore.mu.Lock()
	defer m.memoryStore.mu.Unlock()
	if len(m.sessions) > 0 || len(m.rooms) > 0 {
		return fmt.Errorf("%w: the engine already has sessions", ErrBadSnapshot)
	}
	m.sessions = make(map[string]*memoryLog, len(saved)) // empty: sized once, not grown
	m.rooms = make(map[string][]member, len(saved)/2)
	for _, s := range saved {
		rec := SessionRecord{ID: s.ID, Token: hashedPrefix + string(s.TokenHash)}
		log := &memoryLog{store: &m.memoryStore, rec: rec, next: s.Next, taken: s.Taken, applied: s.Applied}
		first := s.Next + 1 - uint64(len(s.Frames))
		for i, frame := range s.Frames {
			log.events = append(log.events, wire.Event{Seq: first + uint64(i), Frame: frame})
			log.bytes += len(frame)
		}
		m.held.Add(int64(log.bytes + len(log.events)*eventOverhead))
		m.sessions[s.ID] = log
		mb := mailbox(rec, log)
		if s.Room != "" {
			limit := s.Limit
			if limit > m.maxPeers {
				limit = m.maxPeers
			}
			m.rooms[s.Room] = append(m.rooms[s.Room], member{info: wire.PeerInfo{ID: s.ID, Name: s.Name, ClientTag: s.ClientTag}, mb: mb, limit: limit})
		}
	}
	return nil
}
