package signaling

import (
	"crypto/tls"
	"net"
)

// parkable is what the parker needs of an idle connection (see parker):
// a pointer, compared to find it again.
type parkable interface {
	comparable
	// parkFD is the socket's descriptor; only the connection's reader
	// closes it.
	parkFD() int32
	// parking is called, under the parker's lock, just before the socket
	// is armed: the connection lets go of what an idle one need not hold,
	// and reports false when it must not park (it is closing).
	parking() bool
}

// watched is a connection nobody reads, whose client's close the server
// wants to notice at once rather than at its next heartbeat: an event
// stream, a parked poll. The watcher (a parker) wakes peerClosed when the
// socket becomes readable or its peer hangs up.
type watched interface {
	parkFD() int32
	parking() bool
	// peerClosed looks at the socket and ends the channel if its client
	// closed it. It must not block.
	peerClosed()
}

// watchFD is the descriptor the watcher arms for conn: a plain TCP
// socket's, or the one under TLS; false for anything else.
func watchFD(conn net.Conn) (int32, bool) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		return 0, false
	}
	return socketFD(tcp)
}
