//go:build !unix

package turn

import "net"

func setReusePort(uintptr) error { return nil }

func socketBuffers(*net.UDPConn) (int, int, error) { return 0, 0, errBadConfig }
