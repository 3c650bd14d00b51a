//go:build !unix

package signaling

import "net"

// peerGone cannot peek here; a write to the closed socket fails instead.
func peerGone(net.Conn) bool { return false }
