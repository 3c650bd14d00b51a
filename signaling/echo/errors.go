package echo

import "errors"

var (
	errBadConfig   = errors.New("invalid echo config")
	errClosed      = errors.New("echo service closed")
	errSessionLost = errors.New("signaling session lost")
	errLeft        = errors.New("requester left")
)
