package signaling

import (
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// ICEProvider hands out the ICE servers of Config.ICEServers. STUN needs
// no credential and goes to every session in its welcome; TURN
// credentials are minted only for a session in a room (joined, GET
// /v1/ice-servers): a session that joins nothing cannot collect relay
// allocations (issue 18). The zero value hands out none.
type ICEProvider struct {
	// STUN servers, without credentials.
	STUN []wire.ICEServer
	// TURN returns the TURN servers with credentials issued to sessionID
	// and how long they stay valid; nil hands out none.
	TURN func(sessionID string) (servers []wire.ICEServer, ttl time.Duration)
}

// welcomeServers are what a session gets before any room: the STUN
// servers only, the bundled relay's and (with a TURN pool) the pool's
// host placed by the session's id.
func (s *Server) welcomeServers(sessionID string) []wire.ICEServer {
	servers := append([]wire.ICEServer{}, s.cfg.ICEServers.STUN...)
	if p := s.cfg.TURNPool; p != nil {
		servers = append(servers, p.STUN(sessionID)...)
	}
	return servers
}

// roomServers are a session's in room: STUN, the bundled relay's TURN
// with credentials issued to the session, then the TURN pool's host for
// the room, the same for every peer of the room. The TTL is the shortest.
func (s *Server) roomServers(sessionID, room string) ([]wire.ICEServer, time.Duration) {
	servers := append([]wire.ICEServer{}, s.cfg.ICEServers.STUN...)
	var ttl time.Duration
	if mint := s.cfg.ICEServers.TURN; mint != nil {
		more, t := mint(sessionID)
		servers, ttl = append(servers, more...), t
	}
	if p := s.cfg.TURNPool; p != nil {
		more, t := p.Servers(room, sessionID)
		servers = append(servers, more...)
		if ttl == 0 || t > 0 && t < ttl {
			ttl = t
		}
	}
	return servers, ttl
}
