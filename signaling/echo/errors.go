package echo

import "errors"

var (
	errBadConfig = errors.New("invalid echo config")
	errClosed    = errors.New("echo service closed")
	errNoWelcome = errors.New("no welcome from the server")
	errLeft      = errors.New("requester left")
)
