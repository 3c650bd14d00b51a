package turn

import (
	"net"

	"github.com/pion/turn/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// countingRelays hands out relay sockets from a port range and counts the
// bytes that cross them.
type countingRelays struct {
	*turn.RelayAddressGeneratorPortRange
	in, out prometheus.Counter
}

func (g *countingRelays) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGeneratorPortRange.AllocatePacketConn(network, requestedPort)
	if err != nil {
		return nil, nil, err
	}
	return &countingConn{PacketConn: conn, in: g.in, out: g.out}, addr, nil
}

type countingConn struct {
	net.PacketConn
	in, out prometheus.Counter
}

func (c *countingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if n > 0 {
		c.in.Add(float64(n))
	}
	return n, addr, err
}

func (c *countingConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(p, addr)
	if n > 0 {
		c.out.Add(float64(n))
	}
	return n, err
}
