package signaling

import (
	"net"
	"net/http"
	"time"
)

// The connections net/http holds for the server, tracked through its
// ConnState hook. A connection that never finishes a request holds a
// descriptor like a session does, without being one: one source could
// otherwise hold every descriptor with requests that never end. A
// connection taken out of net/http (a WebSocket, a raw event stream) is a
// session's and counts among sessions instead.

// ConnState tracks c for the http.Server that serves Handler: set it as
// that server's ConnState. A connection from a source that holds
// Config.MaxConnsPerAddr is closed at once (a trusted proxy's are exempt:
// they carry many clients), Shutdown ends the requests still waiting
// for their bodies instead of waiting for them, and a channel request
// whose client hung up before it was read is dropped (noteOrphan).
func (s *Server) ConnState(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		peer := remoteAddr(c.RemoteAddr().String())
		source := sourceOf(peer, s.cfg.SourcePrefixV4, s.cfg.SourcePrefixV6)
		s.connMu.Lock()
		full := !s.trusted(peer) && s.connsBySource[source] >= s.cfg.MaxConnsPerAddr
		if !full {
			s.conns[c] = source
			s.connsBySource[source]++
		}
		s.connMu.Unlock()
		if full {
			s.metrics.errors.WithLabelValues(codeTooManyConns).Inc()
			_ = c.Close() // before a byte is read: nothing to answer yet
			return
		}
	case http.StateActive:
		s.noteOrphan(c)
	case http.StateHijacked, http.StateClosed:
		s.connMu.Lock()
		delete(s.orphaned, c.RemoteAddr().String())
		if source, ok := s.conns[c]; ok {
			delete(s.conns, c)
			if s.connsBySource[source] <= 1 {
				delete(s.connsBySource, source)
			} else {
				s.connsBySource[source]--
			}
		}
		s.connMu.Unlock()
	}
}

// codeTooManyConns counts, in the errors metric, connections closed for
// their source's cap; the client gets no answer, so it is no protocol code.
const codeTooManyConns = "too_many_connections"

// codeOrphaned counts channel requests dropped because their client had
// hung up before they were read (noteOrphan); nobody gets an answer.
const codeOrphaned = "client_gone"

// endHeldRequests makes every read on the connections net/http holds
// fail now: a request waiting for its body ends at once rather than at
// its deadline, and idle connections close. Later arrivals are answered
// 503 shutdown, which closes their connections.
func (s *Server) endHeldRequests() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	now := time.Now()
	for c := range s.conns {
		_ = c.SetReadDeadline(now)
	}
}

// noteOrphan looks, as a request's head has been read and before net/http
// reads on (its background read would hold the socket), whether the
// client has already hung up: a request written and then given up. A
// channel request of that kind must not take its session from the
// channel that replaced it meanwhile (a poll the client cut, reaching the
// handler after the client resumed on a WebSocket, closed that socket
// with 4001).
func (s *Server) noteOrphan(c net.Conn) {
	gone := peerGone(c)
	key := c.RemoteAddr().String()
	s.connMu.Lock()
	if gone {
		s.orphaned[key] = true
	} else {
		delete(s.orphaned, key)
	}
	s.connMu.Unlock()
}

// orphanedRequest reports whether r's client had hung up when its head
// was read (noteOrphan; only with ConnState set, HTTP/1).
func (s *Server) orphanedRequest(r *http.Request) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.orphaned[r.RemoteAddr]
}
