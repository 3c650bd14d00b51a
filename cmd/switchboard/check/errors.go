package check

import "errors"

var (
	errBadURL        = errors.New("not a server URL")
	errTURNPair      = errors.New("-turn-url and -turn-secret go together")
	errNotConnected  = errors.New("peers did not connect")
	errBadCredential = errors.New("TURN username is not <expiry>:<user>")
	errEchoOff       = errors.New("the server runs no echo peer")
	errEchoBusy      = errors.New("the server's echo peers are busy")

	errSecondAllocation = errors.New("second allocation")
	errTLSHandshake     = errors.New("TLS handshake")
	errNothingArrived   = errors.New("nothing arrived")
)
