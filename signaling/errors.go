package signaling

import (
	"errors"
	"fmt"
)

// The two routing refusals a Router reports; they are exported so that
// Router implementations in other packages can return them.
var (
	ErrRoomFull    = errors.New("room is full")
	ErrUnknownPeer = errors.New("no such peer in room")
)

// EventLog refusals; exported so that Store implementations in other
// packages can return them.
var (
	ErrLogFull   = errors.New("replay buffer full")
	ErrReplayGap = errors.New("requested events are no longer kept")
)

var (
	errBadConfig = errors.New("invalid signaling config")
	errRedis     = errors.New("redis")
	errRedisDown = fmt.Errorf("%w: unreachable", errRedis)
)
