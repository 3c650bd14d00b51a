package stun

import "errors"

var (
	errNotBinding = errors.New("not a STUN Binding request")
	errNotUDPAddr = errors.New("batch destination is not a UDP address of the socket's family")
	errProbe      = errors.New("STUN probe failed")
)

var (
	errNoAnswer  = errors.New("no STUN answer")
	errNoRFC5780 = errors.New("server answers without OTHER-ADDRESS: no RFC 5780 NAT discovery there")
)

// IsNoAnswer reports whether err says the server never answered (UDP
// blocked or filtered on the way, or nothing listening).
func IsNoAnswer(err error) bool { return errors.Is(err, errNoAnswer) }

// IsNoRFC5780 reports whether err says the server answers STUN but not
// RFC 5780 (no alternate address configured).
func IsNoRFC5780(err error) bool { return errors.Is(err, errNoRFC5780) }
