package call

import "errors"

var (
	errClosed   = errors.New("room closed")
	errNoClient = errors.New("call: no signaling client")
)
