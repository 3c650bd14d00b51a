package turn

import (
	"net"

	"github.com/pion/turn/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// countingRelays hands out relay sockets from a port range that count the
// bytes crossing them and enforce the port half of the peer policy.
type countingRelays struct {
	*turn.RelayAddressGeneratorPortRange
	in, out prometheus.Counter
	// allowed vets each datagram's destination; pion's permission check
	// sees only the peer IP.
	allowed func(*net.UDPAddr) bool
}

func (g *countingRelays) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGeneratorPortRange.AllocatePacketConn(network, requestedPort)
	if err != nil {
		return nil, nil, err
	}
	return &countingConn{PacketConn: conn, in: g.in, out: g.out, allowed: g.allowed}, addr, nil
}

type countingConn struct {
	net.PacketConn
	in, out prometheus.Counter
	allowed func(*net.UDPAddr) bool
}

func (c *countingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if n > 0 {
		c.in.Add(float64(n))
	}
	return n, addr, err
}

func (c *countingConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if udp, ok := addr.(*net.UDPAddr); ok && !c.allowed(udp) {
		// Dropped like any lost datagram: an error would only make pion
		// log once per packet the client sends.
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	if n > 0 {
		c.out.Add(float64(n))
	}
	return n, err
}
