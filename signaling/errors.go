package signaling

import "errors"

var errBadConfig = errors.New("invalid signaling config")

// errSuspended: a channel for a session the stopping node keeps for the
// next process (Config.KeepSessions).
var errSuspended = errors.New("session kept for the next process")
