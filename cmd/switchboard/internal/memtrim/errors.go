package memtrim

import "errors"

// ErrBadConfig wraps every Config.validate refusal.
var ErrBadConfig = errors.New("memtrim: bad config")
