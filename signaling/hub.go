package signaling

import (
	"crypto/subtle"
	"errors"
	"net/netip"
	"time"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// The hub half of Server: the sessions this node runs, by id and by
// source, their heartbeat, and their endings. The HTTP front (server.go,
// admit.go and one file per channel) finds sessions here, and creates
// them through admission.

// heartbeatSlots spreads pings over the interval, so 10,000 connections
// are not all pinged, and all given a writer goroutine, at once.
const heartbeatSlots = 32

// heartbeat beats every attached channel once per PingInterval, one slot
// of sessions per tick. One goroutine for all connections costs less than
// a timer per connection, which is most of what an idle connection holds.
func (s *Server) heartbeat() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.PingInterval / heartbeatSlots)
	defer tick.Stop()
	var due []channel
	for slot := int32(0); ; slot = (slot + 1) % heartbeatSlots {
		select {
		case <-s.stop:
			return
		case now := <-tick.C:
			if slot%4 == 0 { // about every 2.5 s: a room's bucket is one limiter per room
				s.addrJoins.sweep(now)
				s.roomJoins.sweep(now)
			}
		}
		now := time.Now().UnixNano()
		s.mu.Lock()
		// A session that went quiet with events unacknowledged gets its
		// heartbeat early, so that its pong frees them (see ackBytes); at
		// most a slot's share per tick, so that a wave of connections is
		// not all pinged, and given writers, at once.
		early := max(64, len(s.sessions)/heartbeatSlots)
		for _, sess := range s.sessions {
			ackDue := sess.ackDue.Load()
			if sess.slot == slot || early > 0 && ackDue != 0 && now >= ackDue {
				if sess.slot != slot {
					early--
				}
				if ch := sess.attached(); ch != nil {
					due = append(due, ch)
				}
			}
		}
		s.mu.Unlock()
		for i, ch := range due {
			ch.heartbeat()
			due[i] = nil
		}
		due = due[:0]
	}
}

// sessionFor finds the live session token names, for a client at source:
// one this node runs, or, in a cluster, one another node ran, which is
// adopted. It is nil when there is none, and fails when the engine could
// not tell (the cluster's Redis did not answer).
func (s *Server) sessionFor(token string, source netip.Addr) (*session, error) {
	if token == "" {
		return nil, nil
	}
	if sess := s.runningWith(token); sess != nil {
		return sess, nil
	}
	rec, log, err := s.engine.Find(token)
	switch {
	case errors.Is(err, engine.ErrNoSession):
		return nil, nil
	case err != nil:
		return nil, err
	}
	if sess := s.running(rec.ID); sess != nil || !s.engine.Shared() {
		return sess, nil
	}
	return s.adopt(rec, log, source), nil
}

// runningWith returns the session token is the token of, when this node
// runs it and knows its token: no lookup in the engine (a round trip per
// poll and POST in a cluster). A session restored from a state file
// knows its token only by the engine's hash until its client shows it:
// nil then, and the engine decides.
func (s *Server) runningWith(token string) *session {
	sess := s.running(engine.TokenID(token))
	if sess == nil || sess.token == "" || subtle.ConstantTimeCompare([]byte(sess.token), []byte(token)) != 1 {
		return nil
	}
	return sess
}

// running returns the session id names if this node runs it.
func (s *Server) running(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

// adopt runs here, from now on, a session another node of the cluster
// ran: detached, within its grace period, until a channel attaches.
func (s *Server) adopt(rec engine.SessionRecord, log engine.EventLog, source netip.Addr) *session {
	sess := &session{srv: s, id: rec.ID, token: rec.Token, log: log, source: source}
	if refusal := s.register(sess); refusal != nil {
		return s.running(rec.ID) // adopted by a concurrent request, or no room for it
	}
	room, err := s.engine.Adopt(rec, sess)
	if err != nil {
		s.forget(sess, wire.CodeResumeFailed)
		return nil
	}
	sess.room = room
	sess.chMu.Lock()
	sess.startGrace(s.cfg.ResumeGrace)
	sess.chMu.Unlock()
	s.metrics.resumes.WithLabelValues("adopted").Inc()
	return sess
}

// endSession ends sess for reason (a Code*), closing its channel with the
// WebSocket code that goes with it, and forgets it.
func (s *Server) endSession(sess *session, reason string) {
	code := websocket.CloseGoingAway
	switch reason {
	case wire.CodeSlowConsumer, wire.CodeOverBudget:
		code = websocket.ClosePolicyViolation
	case wire.CodeBye:
		code = websocket.CloseNormalClosure
	}
	if !sess.end(code, reason) {
		return
	}
	s.forget(sess, reason)
	s.engine.Drop(engine.SessionRecord{ID: sess.id, Token: sess.token})
}

// forget removes an ended or released session from those this node runs.
func (s *Server) forget(sess *session, reason string) {
	s.metrics.ended.WithLabelValues(reason).Inc()
	s.mu.Lock()
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
		s.metrics.sessions.Dec()
		s.perAddr.release(sess.source)
	}
	s.mu.Unlock()
}

// goEnd ends sess from a goroutine of its own: the caller holds the
// engine's room lock, which ending (leaving the room) needs.
func (s *Server) goEnd(sess *session, reason string) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.endSession(sess, reason)
	}()
}

// register makes sess one of the server's live sessions, within the
// server-wide and per-address caps.
func (s *Server) register(sess *session) *wire.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return wire.NewError(wire.CodeShutdown, "%s", closeMessages[wire.CodeShutdown])
	case s.sessions[sess.id] != nil: // adopted by a concurrent request
		return wire.NewError(wire.CodeReplaced, "%s", closeMessages[wire.CodeReplaced])
	case len(s.sessions) >= s.cfg.MaxSessions:
		return wire.NewError(wire.CodeServerFull, "the server holds its maximum of %d sessions; try again later", s.cfg.MaxSessions)
	case !s.perAddr.acquire(sess.source):
		return wire.NewError(wire.CodeTooManySessions, "your address holds its maximum of %d sessions", s.cfg.MaxSessionsPerAddr)
	}
	sess.slot = s.nextSlot
	s.nextSlot = (s.nextSlot + 1) % heartbeatSlots
	s.sessions[sess.id] = sess
	s.metrics.sessions.Inc()
	return nil
}
