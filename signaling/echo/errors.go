package echo

import "errors"

var (
	errBadConfig = errors.New("invalid echo config")
	errClosed    = errors.New("echo service closed")
	errNoWelcome = errors.New("no welcome from the server")
	errNotJoined = errors.New("the echo peer's join got no joined")
	errLeft      = errors.New("requester left")
)
