package stun

import "errors"

var (
	errNotBinding = errors.New("not a STUN Binding request")
	errNotUDPAddr = errors.New("batch destination is not a UDP address of the socket's family")
	errProbe      = errors.New("STUN probe failed")
)
