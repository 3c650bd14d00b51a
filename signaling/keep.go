package signaling

import (
	"fmt"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/state"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// The restart half of Server: a single node that stops keeps its sessions
// for the next process (Config.KeepSessions) instead of ending them. The
// stopping node closes every channel with 4000 resume, as a dropped
// channel, and once its requests are over hands out a Snapshot; the next
// process Restores it before it serves, and each client resumes within
// its grace period as if it had only lost its connection: peers hear no
// peer-left, and every event is in its log, once.

// suspend closes the session's channel with 4000 resume and stops its
// grace timer, leaving its room and its log as they are, for a snapshot.
// A channel attached until now starts its grace period now; a detached
// session keeps what remains of its own.
func (s *session) suspend(now time.Time) {
	s.chMu.Lock()
	if s.ended.Load() || s.suspended {
		s.chMu.Unlock()
		return
	}
	s.suspended = true
	ch := s.ch
	s.ch = nil
	if ch != nil || s.graceEnds == 0 {
		s.graceEnds = now.Add(s.srv.cfg.ResumeGrace).UnixNano()
	}
	if s.grace != nil {
		s.grace.Stop() // if it fired already, the session ends and is not saved
	}
	s.chMu.Unlock()
	if ch != nil {
		s.srv.metrics.errors.WithLabelValues(wire.CodeResume).Inc()
		ch.close(wire.CloseResume, wire.CodeResume)
	}
}

// persister is the engine as a Persister, nil when it cannot keep
// sessions past the process: Shared engines hand them over instead.
func (s *Server) persister() engine.Persister {
	p, ok := s.engine.(engine.Persister)
	if !ok || s.engine.Shared() {
		return nil
	}
	return p
}

// Snapshot reports the sessions Shutdown kept (Config.KeepSessions), for
// the next process to Restore; call it once Shutdown returned. Without
// KeepSessions it reports none: Shutdown ended them.
func (s *Server) Snapshot(now time.Time) *state.Snapshot {
	snap := &state.Snapshot{Written: now}
	p := s.persister()
	if p == nil || !s.cfg.KeepSessions {
		return snap
	}
	saved := p.Save()
	snap.Sessions = make([]state.Session, 0, len(saved))
	for _, ss := range saved {
		sess := s.running(ss.ID)
		if sess == nil {
			continue // not registered yet when the node stopped: nobody has its token
		}
		sess.chMu.Lock()
		graceEnds := sess.graceEnds
		sess.chMu.Unlock()
		snap.Sessions = append(snap.Sessions, state.Session{SavedSession: ss, Source: sess.source, GraceEnds: graceEnds})
	}
	return snap
}

// Restore takes the sessions of snap, which the previous process on the
// state file kept, into a server that has none and serves nothing yet.
// Each waits out what remains of its grace period for its client to
// resume; one whose period is over ends at once, and its peers hear of
// it. Caps on sessions do not apply: they were admitted before. It
// reports how many sessions it restored.
func (s *Server) Restore(snap *state.Snapshot) (int, error) {
	p := s.persister()
	if p == nil {
		return 0, fmt.Errorf("%w: the engine keeps no sessions across restarts", errBadConfig)
	}
	saved := make([]engine.SavedSession, len(snap.Sessions))
	byID := make(map[string]*state.Session, len(snap.Sessions))
	for i := range snap.Sessions {
		saved[i] = snap.Sessions[i].SavedSession
		byID[saved[i].ID] = &snap.Sessions[i]
	}
	restored := make([]*session, 0, len(saved))
	err := p.Restore(saved, func(rec engine.SessionRecord, log engine.EventLog) engine.Mailbox {
		// The session's token is known only to the engine, by its hash,
		// until its client shows it: the node needs none.
		ss := byID[rec.ID]
		sess := &session{srv: s, id: rec.ID, log: log, source: ss.Source, room: ss.Room, graceEnds: ss.GraceEnds}
		restored = append(restored, sess)
		return sess
	})
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	for _, sess := range restored {
		sess.slot = s.nextSlot
		s.nextSlot = (s.nextSlot + 1) % heartbeatSlots
		s.sessions[sess.id] = sess
		s.perAddr.add(sess.source)
		s.metrics.sessions.Inc()
	}
	s.mu.Unlock()
	s.metrics.resumes.WithLabelValues("restored").Add(float64(len(restored)))
	for _, sess := range restored {
		sess.chMu.Lock()
		sess.startGrace(max(0, time.Until(time.Unix(0, sess.graceEnds))))
		sess.chMu.Unlock()
	}
	return len(restored), nil
}
