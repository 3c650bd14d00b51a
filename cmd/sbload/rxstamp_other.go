//go:build !linux

package main

import (
	"context"
	"net"
)

// dialStamped dials plain TCP: receive timestamps are read on Linux only.
func dialStamped(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

// arrival is t: without receive timestamps a frame arrives when it is read.
func arrival(_ net.Conn, t int64) int64 { return t }
