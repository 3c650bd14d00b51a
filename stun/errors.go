package stun

import "errors"

var errNotBinding = errors.New("not a STUN Binding request")

var errProbe = errors.New("STUN probe failed")
