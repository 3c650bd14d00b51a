// What a session does in its room: join, leave, relay, and ask for the
// echo peer.

package signaling

import (
	"errors"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

func (s *session) join(req *wire.Request, reject replyFunc) {
	if s.room != "" {
		s.refuse(reject, req, wire.NewError(wire.CodeAlreadyInRoom, "already in room %q; leave it first", s.room))
		return
	}
	// Joins are rationed per client address (guessing room names gets
	// slow) before any work is done for them, and per room (members are
	// not flooded with membership events).
	if !s.srv.addrJoins.allow(s.source) {
		s.refuse(reject, req, wire.NewError(wire.CodeRateLimited, "more than %g joins/s from your address; join dropped", s.srv.cfg.JoinRatePerAddr))
		return
	}
	self := wire.PeerInfo{ID: s.id, Name: req.Name, ClientTag: wire.ClientTag(req.Room, req.Client)}
	limit := s.srv.cfg.MaxPeersPerRoom
	if secret := s.srv.cfg.JoinSecret; secret != nil {
		claims, err := checkJoinToken(secret, req.Token, req.Room)
		if err != nil {
			s.refuse(reject, req, err)
			return
		}
		if claims.Name != "" {
			self.Name = claims.Name
		}
		if claims.MaxPeers > 0 {
			limit = min(limit, claims.MaxPeers)
		}
	}
	// The room's budget is spent only by joins that may enter: strangers
	// without a token cannot use it up for the invited.
	if !s.srv.roomJoins.allow(req.Room) {
		s.refuse(reject, req, wire.NewError(wire.CodeRateLimited, "more than %g joins/s into room %q; join dropped", s.srv.cfg.RoomJoinRate, req.Room))
		return
	}
	owner := s.srv.engine.RoomOwner(req.Room)
	// TURN credentials are minted here, for a session that may enter:
	// with a pool, the room's relay host, the same for every peer.
	servers, ttl := s.srv.roomServers(s.id, req.Room)
	joined := func(peers []wire.PeerInfo) []byte {
		return wire.Encode(wire.Joined{Type: "joined", Room: req.Room, Peers: peers, Owner: owner,
			ICEServers: servers, TTL: int(ttl.Seconds()), Re: req.ID})
	}
	err := s.srv.engine.Join(req.Room, self, s, limit, joined, wire.Encode(wire.PeerEvent{Type: "peer-joined", Peer: self}))
	if errors.Is(err, engine.ErrRoomFull) {
		s.refuse(reject, req, wire.NewError(wire.CodeRoomFull, "room %q is full (%d peers)", req.Room, limit))
		return
	}
	if err != nil {
		s.refuse(reject, req, errUnavailable("join"))
		return
	}
	s.room = req.Room
}

// echo asks the server's echo peer into the session's room (echo.go).
func (s *session) echo(req *wire.Request, reject replyFunc) {
	start, err := s.srv.startEcho(s, req.Relay)
	if err != nil {
		s.refuse(reject, req, err)
		return
	}
	s.reply(wire.Encode(wire.Reply{Type: "echo", Room: s.room, Re: req.ID}), req, reject)
	start()
}

// leave quits the current room, if any, and tells the others why
// (wire.PeerLeftOnPurpose or wire.PeerLeftLost).
func (s *session) leave(why string) {
	if s.room == "" {
		return
	}
	s.srv.engine.Leave(s.room, s.id, wire.Encode(wire.PeerEvent{Type: "peer-left", Peer: wire.PeerInfo{ID: s.id}, Reason: why}))
	s.room = ""
}

// relay forwards req to its recipients and reports whether it went out.
// A numbered relay is recorded as handled once its fate is known: sent,
// or refused for good. One refused unavailable is not: the client sends
// it again under the same cseq, and the engine relays a cseq once
// (Engine.Send), however many calls it took; newer frames wait for it
// (admit).
func (s *session) relay(req *wire.Request, reject replyFunc) bool {
	e := s.sendRelay(req)
	switch {
	case e == nil:
		if req.CSeq != 0 {
			s.log.Relayed(req.CSeq)
		}
		s.srv.metrics.relayed[req.Type].Inc()
	case e.Code == wire.CodeUnavailable && req.CSeq != 0:
		s.resend, s.resendBy = req.CSeq, time.Now().Add(s.srv.cfg.ResendWait).UnixNano()
		s.refuse(reject, req, e)
		return false
	default:
		s.applied(req.CSeq)
		s.refuse(reject, req, e)
	}
	if req.CSeq >= s.resend {
		s.resend = 0
	}
	return e == nil
}

// sendRelay hands req to the engine, or says why it cannot go.
func (s *session) sendRelay(req *wire.Request) *wire.Error {
	if s.room == "" {
		return wire.NewError(wire.CodeNotInRoom, "join a room before sending %s", req.Type)
	}
	size := len(req.SDPRaw) + len(req.Candidate) + len(req.Data) + len(req.To) + len(s.id) + 64
	frame := wire.AppendRelayFrame(make([]byte, 0, size), req, s.id)
	if int64(len(frame)) > s.srv.cfg.MaxMessageSize {
		// The recipient's frame carries "from": it must stay within the
		// limit clients are told frames keep to.
		return wire.NewError(wire.CodeTooLarge, "relayed with its sender, this %s would be %d bytes, over the %d-byte frame limit", req.Type, len(frame), s.srv.cfg.MaxMessageSize)
	}
	if err := s.srv.engine.Send(s.room, s.id, req.To, frame, req.CSeq); err != nil {
		if !errors.Is(err, engine.ErrUnknownPeer) {
			return errUnavailable(req.Type)
		}
		return wire.NewError(wire.CodeUnknownPeer, "no peer %q in room %q", wire.Truncate(req.To, 64), s.room)
	}
	return nil
}
