package redis

import (
	"errors"
	"fmt"
)

var (
	errBadConfig = errors.New("invalid redis engine config")
	errRedis     = errors.New("redis")
	errRedisDown = fmt.Errorf("%w: unreachable", errRedis)
)
