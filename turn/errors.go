package turn

import "errors"

var (
	errBadConfig   = errors.New("invalid turn config")
	errBadUsername = errors.New("username is not <unix expiry>[:<user>]")
	errExpired     = errors.New("credential has expired")
)
