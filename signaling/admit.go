package signaling

import (
	"errors"
	"net/http"
	"net/netip"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// admission decides, before a channel is set up (for WebSocket: before
// the upgrade), whether the request may get a new session, should it need
// one. A request that resumes a live session is always admitted; it is
// found, or adopted, by open.
func (s *Server) admission(r *http.Request, p resumeParams, source netip.Addr) *wire.Error {
	if p.token != "" {
		switch _, _, err := s.engine.Find(p.token); {
		case err == nil:
			return nil
		case !errors.Is(err, engine.ErrNoSession):
			// Not known to be gone: a new session in its place would end it.
			return errUnavailable("resume")
		}
	}
	s.mu.Lock()
	closing, n := s.closing, len(s.sessions)
	s.mu.Unlock()
	switch {
	case closing:
		return wire.NewError(wire.CodeShutdown, "%s", closeMessages[wire.CodeShutdown])
	case n >= s.cfg.MaxSessions:
		return wire.NewError(wire.CodeServerFull, "the server holds its maximum of %d sessions; try again later", s.cfg.MaxSessions)
	case s.perAddr.full(source):
		return wire.NewError(wire.CodeTooManySessions, "your address holds its maximum of %d sessions", s.cfg.MaxSessionsPerAddr)
	}
	return nil
}

// admissionStatus is the HTTP status of an admission refusal.
func admissionStatus(e *wire.Error) int {
	if e.Code == wire.CodeTooManySessions {
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// open gives a new channel its session: the one p's token names, resumed
// from p's position, else a new one for source. notices are what the
// channel sends before any event: "resumed" when announce is set, or
// "resume_failed" ahead of a new session's welcome. It fails when a new
// session is not admitted (see admission).
func (s *Server) open(ch channel, p resumeParams, source netip.Addr, announce bool) (sess *session, cursor uint64, notices [][]byte, refusal *wire.Error) {
	if p.token != "" {
		if !p.fromLast && p.after == 0 {
			p.after = 1 // a client with the token has the welcome, which is not kept
		}
		old, err := s.sessionFor(p.token, source)
		if err != nil {
			return nil, 0, nil, errUnavailable("resume")
		}
		if old != nil {
			cursor, last, err := old.attach(ch, p.after, p.fromLast)
			if err == nil {
				s.metrics.resumes.WithLabelValues("resumed").Inc()
				if announce {
					notices = [][]byte{wire.Encode(wire.Resumed{Type: "resumed", Session: old.id, After: cursor, Last: last, Applied: old.log.Applied()})}
				}
				return old, cursor, notices, nil
			}
			if errors.Is(err, errSuspended) { // the next process has it
				return nil, 0, nil, wire.NewError(wire.CodeShutdown, "%s", closeMessages[wire.CodeShutdown])
			}
			if !errors.Is(err, engine.ErrReplayGap) { // a cluster's Redis is down: the session lives on
				return nil, 0, nil, errUnavailable("resume")
			}
			// Events the client asked for are gone: the session cannot
			// go on without a gap, so it ends and its peers hear of it.
			s.endSession(old, wire.CodeResumeFailed)
		}
		s.metrics.resumes.WithLabelValues("failed").Inc()
		s.metrics.errors.WithLabelValues(wire.CodeResumeFailed).Inc()
		notices = append(notices, wire.Encode(wire.ErrorFrame{Type: "error", Code: wire.CodeResumeFailed,
			Message: "the session is gone (unknown token, grace period over, or events no longer kept); this is a new session"}))
	}
	sess = newSession(s, source)
	if refusal := s.register(sess); refusal != nil {
		s.engine.Drop(engine.SessionRecord{ID: sess.id, Token: sess.token})
		s.metrics.errors.WithLabelValues(refusal.Code).Inc()
		return nil, 0, nil, refusal
	}
	if _, err := s.engine.Adopt(engine.SessionRecord{ID: sess.id, Token: sess.token}, sess); err != nil {
		s.endSession(sess, wire.CodeUnavailable)
		return nil, 0, nil, errUnavailable("new session")
	}
	if _, _, err := sess.attach(ch, 0, false); err != nil {
		if !errors.Is(err, engine.ErrReplayGap) { // a cluster's Redis failed meanwhile
			s.endSession(sess, wire.CodeUnavailable)
			return nil, 0, nil, errUnavailable("new session")
		}
		return nil, 0, nil, wire.NewError(wire.CodeShutdown, "%s", closeMessages[wire.CodeShutdown]) // ended by a concurrent Shutdown
	}
	if err := sess.deliver(sess.welcome()); err != nil && !errors.Is(err, engine.ErrLogFull) {
		s.endSession(sess, wire.CodeUnavailable) // a cluster's Redis failed meanwhile
		return nil, 0, nil, errUnavailable("new session")
	}
	return sess, 0, notices, nil
}
