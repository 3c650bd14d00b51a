package signaling

import "errors"

var errBadConfig = errors.New("invalid signaling config")
