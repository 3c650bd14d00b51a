//go:build !(linux && (amd64 || arm64))

package stun

import "net"

func newRawBatch(*net.UDPConn) batchConn { return nil }
