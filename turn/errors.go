package turn

import "errors"

var (
	errBadConfig    = errors.New("invalid turn config")
	errBadUsername  = errors.New("username is not <unix expiry>[:<user>]")
	errBadAddrRange = errors.New("not an address, range a-b or prefix")
	errNotTURNFrame = errors.New("stream carries neither STUN nor ChannelData")
	errNoRelayLoop  = errors.New("relay fast path needs Linux on amd64 or arm64")
	errLoopStopped  = errors.New("relay loop stopped")

	errUnknownKey     = errors.New("unknown option")
	errUnsupportedKey = errors.New("unsupported option")
	errBadValue       = errors.New("bad option value")
	errBadOptions     = errors.New("invalid options")
)
