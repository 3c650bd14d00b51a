package redis

import (
	"errors"
	"fmt"
)

var (
	errBadConfig = errors.New("invalid redis engine config")
	errRedis     = errors.New("redis")
	errRedisDown = fmt.Errorf("%w: unreachable", errRedis)
	// errStillInRoom: a session may move to another shard only between
	// rooms.
	errStillInRoom = fmt.Errorf("%w: the session is still in a room", errRedis)
)
