package stun

import "errors"

var errNotBinding = errors.New("not a STUN Binding request")
