//go:build !linux

package signaling

import "net"

// parker is Linux-only (epoll): elsewhere every WebSocket keeps a reader
// goroutine for its life.
type parker struct{}

func newParker(func(*wsConn)) (*parker, error) { return nil, nil }
func (*parker) run()                           {}
func (*parker) park(*wsConn) bool              { return false }
func (*parker) close() []*wsConn               { return nil }
func (*parker) unpark(*wsConn)                 {}

func socketFD(*net.TCPConn) (int32, bool) { return 0, false }
