package signaling

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"time"

	"golang.org/x/time/rate"
)

// transport is what a session needs from the connection carrying it.
type transport interface {
	Mailbox
	// close ends the connection with a protocol close code and a machine
	// code as reason. It must not block the caller on the network.
	close(code int, reason string)
	// ping sends a keepalive ping; it must not block either.
	ping()
}

// session is one peer's signaling state. handle and leave run on the
// transport's single reader goroutine, so room needs no lock.
type session struct {
	srv     *Server
	id      string // public: other peers address this one by it
	token   string // secret: proves ownership of the session
	out     transport
	limiter *rate.Limiter
	slot    int // heartbeat slot, see Server.heartbeat

	room string
}

func newSession(srv *Server, out transport) *session {
	return &session{
		srv:     srv,
		id:      rand.Text(),
		token:   rand.Text() + rand.Text(),
		out:     out,
		limiter: rate.NewLimiter(rate.Limit(srv.cfg.RateLimit), srv.cfg.RateBurst),
	}
}

func (s *session) welcome() []byte {
	var servers []ICEServer
	var ttl time.Duration
	if s.srv.cfg.ICEServers != nil {
		servers, ttl = s.srv.cfg.ICEServers(s.id)
	}
	if servers == nil {
		servers = []ICEServer{}
	}
	return encode(welcomeFrame{
		Type: "welcome", Session: s.id, Token: s.token, ICEServers: servers, TTL: int(ttl.Seconds()),
		Heartbeat: int(s.srv.cfg.PingInterval.Seconds()),
	})
}

// handle processes one client frame. It reports whether the frame took
// the slow path: anything but a relay that went through.
func (s *session) handle(frame []byte) (slow bool) {
	if req, ok := decodeRelayFast(frame); ok && req.validate() == nil && s.room != "" && s.limiter.Allow() {
		return !s.relay(req)
	}
	req, perr := decodeRequest(frame)
	if !s.limiter.Allow() {
		s.reject(req.ID, newError(CodeRateLimited, "more than %g frames/s (burst %d); frame dropped",
			s.srv.cfg.RateLimit, s.srv.cfg.RateBurst))
		return true
	}
	if perr != nil {
		s.reject(req.ID, perr)
		return true
	}
	switch req.Type {
	case typeJoin:
		s.join(req)
	case typeLeave:
		if s.room == "" {
			s.reject(req.ID, newError(CodeNotInRoom, "not in a room"))
			return
		}
		room := s.room
		s.leave()
		s.out.Deliver(encode(replyFrame{Type: "left", Room: room, Re: req.ID}))
	case typePing:
		s.out.Deliver(encode(replyFrame{Type: "pong", Re: req.ID}))
	default:
		s.relay(req)
	}
	return true
}

func (s *session) join(req *request) {
	if s.room != "" {
		s.reject(req.ID, newError(CodeAlreadyInRoom, "already in room %q; leave it first", s.room))
		return
	}
	self := PeerInfo{ID: s.id, Name: req.Name}
	joined := func(peers []PeerInfo) []byte {
		return encode(joinedFrame{Type: "joined", Room: req.Room, Peers: peers, Re: req.ID})
	}
	err := s.srv.router.Join(req.Room, self, s.out, joined, encode(peerFrame{Type: "peer-joined", Peer: self}))
	if errors.Is(err, ErrRoomFull) {
		s.reject(req.ID, newError(CodeRoomFull, "room %q is full (%d peers)", req.Room, s.srv.cfg.MaxPeersPerRoom))
		return
	}
	if err != nil {
		s.srv.log.Error("join failed", "session", s.id, "room", req.Room, "err", err)
		return
	}
	s.room = req.Room
}

// leave quits the current room, if any, and tells the others.
func (s *session) leave() {
	if s.room == "" {
		return
	}
	s.srv.router.Leave(s.room, s.id, encode(peerFrame{Type: "peer-left", Peer: PeerInfo{ID: s.id}}))
	s.room = ""
}

// relay forwards req to its recipients and reports whether it went out.
func (s *session) relay(req *request) bool {
	if s.room == "" {
		s.reject(req.ID, newError(CodeNotInRoom, "join a room before sending %s", req.Type))
		return false
	}
	size := len(req.sdpRaw) + len(req.Candidate) + len(req.Data) + len(req.To) + len(s.id) + 64
	frame := appendRelayFrame(make([]byte, 0, size), req, s.id)
	if err := s.srv.router.Send(s.room, s.id, req.To, frame); err != nil {
		s.reject(req.ID, newError(CodeUnknownPeer, "no peer %q in room %q", truncate(req.To, 64), s.room))
		return false
	}
	s.srv.metrics.relayed[req.Type].Inc()
	return true
}

func (s *session) reject(id json.RawMessage, e *Error) {
	s.srv.metrics.errors.WithLabelValues(e.Code).Inc()
	s.out.Deliver(encode(errorFrame{Type: "error", Code: e.Code, Message: e.Message, Re: id}))
}
