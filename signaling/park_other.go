//go:build !linux

package signaling

import "net"

// parker is Linux-only (epoll): elsewhere every WebSocket keeps a reader
// goroutine for its life.
type parker[C parkable] struct{}

func newParker[C parkable](func(C)) (*parker[C], error) { return nil, nil }
func (*parker[C]) run()                                 {}
func (*parker[C]) park(C) bool                          { return false }
func (*parker[C]) close() []C                           { return nil }
func (*parker[C]) unpark(C)                             {}
func (*parker[C]) forget(C)                             {}

func socketFD(*net.TCPConn) (int32, bool) { return 0, false }
