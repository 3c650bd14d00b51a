package signaling

import (
	"errors"
	"net/netip"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// EchoStarter brings an echo peer into a room: a peer run by the server
// that answers the requester's offer, echoes its data channel and loops
// its media back (package signaling/echo).
type EchoStarter interface {
	// StartEcho reserves a peer that joins room and serves requester
	// only, and returns the function that starts it, called once the
	// requester has its answer (so that the echo reply comes before the
	// peer's peer-joined). It returns ErrEchoBusy when source or the
	// server runs as many echo peers as allowed.
	StartEcho(room, requester string, source netip.Addr, relayOnly bool) (start func(), err error)
}

// ErrEchoBusy is an EchoStarter's refusal for a cap.
var ErrEchoBusy = errors.New("echo peers at their cap")

// startEcho is the echo request: the session must be in a room, which
// the echo peer then joins like any peer.
func (srv *Server) startEcho(s *session, relayOnly bool) (func(), *wire.Error) {
	switch {
	case srv.cfg.Echo == nil:
		return nil, wire.NewError(wire.CodeEchoOff, "this server runs no echo peer (start it with -echo)")
	case s.room == "":
		return nil, wire.NewError(wire.CodeNotInRoom, "join a room before asking for the echo peer")
	}
	start, err := srv.cfg.Echo.StartEcho(s.room, s.id, s.source, relayOnly)
	if errors.Is(err, ErrEchoBusy) {
		return nil, wire.NewError(wire.CodeEchoBusy, "%v: one per address at a time, and a few per server; try again in a minute", err)
	}
	if err != nil {
		return nil, wire.NewError(wire.CodeEchoOff, "echo peer not started: %v", err)
	}
	return start, nil
}
