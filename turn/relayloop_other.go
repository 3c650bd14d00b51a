//go:build !(linux && (amd64 || arm64))

package turn

import (
	"net"
	"net/netip"
)

// Elsewhere pion relays every datagram (fastpath.go).

type relayLoop struct{}

type sender struct{}

type rawSockaddr struct{}

type directWriter struct{}

func newDirectWriter() *directWriter                                     { return nil }
func (*directWriter) send(*sender, []byte, *rawSockaddr) bool            { return false }
func (*directWriter) sendRun(run []keptDatagram) (took, sent, bytes int) { return len(run), 0, 0 }

func newRelayLoop(*Server) (*relayLoop, error)               { return nil, errNoRelayLoop }
func newSender(*net.UDPConn) (*sender, error)                { return nil, errNoRelayLoop }
func (*sender) sockaddr(netip.AddrPort) (*rawSockaddr, bool) { return nil, false }
func (*relayLoop) add(*countingConn) error                   { return errNoRelayLoop }
func (*relayLoop) remove(*countingConn)                      {}
func (*relayLoop) close()                                    {}
