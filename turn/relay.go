package turn

import (
	"net"
	"sync"

	"github.com/pion/turn/v4"
	"golang.org/x/time/rate"
)

// countingRelays hands out relay sockets from a port range that count what
// crosses them, enforce the port half of the peer policy and the bandwidth
// caps, and register their port as live while open.
type countingRelays struct {
	*turn.RelayAddressGeneratorPortRange
	srv *Server
}

func (g *countingRelays) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGeneratorPortRange.AllocatePacketConn(network, requestedPort)
	if err != nil {
		return nil, nil, err
	}
	port := 0
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		port = ua.Port
	}
	if uc, ok := conn.(*net.UDPConn); ok && g.srv.cfg.RelaySocketBuffer > 0 {
		// A peer's burst waits here while the allocation's reader is
		// descheduled; the kernel default (~208 KiB) drops it.
		_ = uc.SetReadBuffer(g.srv.cfg.RelaySocketBuffer)
		_ = uc.SetWriteBuffer(g.srv.cfg.RelaySocketBuffer)
	}
	g.srv.livePorts.add(port)
	return &countingConn{
		PacketConn: conn, srv: g.srv, port: port,
		in: g.srv.newAllocBucket(), out: g.srv.newAllocBucket(),
	}, addr, nil
}

type countingConn struct {
	net.PacketConn
	srv       *Server
	port      int
	in, out   *rate.Limiter // max-bps per direction; nil when unlimited
	closeOnce sync.Once
}

func (c *countingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if n > 0 && err == nil && !c.srv.bandwidthAllows(c.in, c.srv.capacityIn, n) {
			c.srv.metrics.droppedBandwidth.Inc()
			continue
		}
		if n > 0 {
			c.srv.metrics.relayedInBytes.Add(float64(n))
			c.srv.metrics.relayedInPackets.Inc()
		}
		return n, addr, err
	}
}

func (c *countingConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if udp, ok := addr.(*net.UDPAddr); ok && !c.srv.datagramAllowed(udp) {
		// Dropped like any lost datagram: an error would only make pion
		// log once per packet the client sends.
		return len(p), nil
	}
	if !c.srv.bandwidthAllows(c.out, c.srv.capacityOut, len(p)) {
		c.srv.metrics.droppedBandwidth.Inc()
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	if n > 0 {
		c.srv.metrics.relayedOutBytes.Add(float64(n))
		c.srv.metrics.relayedOutPackets.Inc()
	}
	return n, err
}

func (c *countingConn) Close() error {
	c.closeOnce.Do(func() { c.srv.livePorts.remove(c.port) })
	return c.PacketConn.Close()
}

// portSet is the set of relay ports of live allocations.
type portSet struct {
	mu    sync.RWMutex
	ports map[int]int
}

func (s *portSet) add(p int) {
	s.mu.Lock()
	if s.ports == nil {
		s.ports = make(map[int]int)
	}
	s.ports[p]++
	s.mu.Unlock()
}

func (s *portSet) remove(p int) {
	s.mu.Lock()
	if s.ports[p]--; s.ports[p] <= 0 {
		delete(s.ports, p)
	}
	s.mu.Unlock()
}

func (s *portSet) has(p int) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ports[p] > 0
}
