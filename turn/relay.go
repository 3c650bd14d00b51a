package turn

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/turn/v4"
	"golang.org/x/time/rate"
)

// countingRelays hands out relay sockets from a port range that count what
// crosses them, enforce the port half of the peer policy and the bandwidth
// caps, and register their port as live while open. With fast set (the
// generator of UDP clients' allocations), the relay loop reads the sockets
// and pion gets only what the fast path leaves (fastpath.go).
type countingRelays struct {
	*turn.RelayAddressGeneratorPortRange
	srv  *Server
	fast *fastPath
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
	uc, isUDP := conn.(*net.UDPConn)
	if isUDP && g.srv.cfg.RelaySocketBuffer > 0 {
		// A peer's burst waits here while the allocation's reader is
		// descheduled; the kernel default (~208 KiB) drops it.
		_ = uc.SetReadBuffer(g.srv.cfg.RelaySocketBuffer)
		_ = uc.SetWriteBuffer(g.srv.cfg.RelaySocketBuffer)
	}
	g.srv.livePorts.add(port)
	c := &countingConn{
		PacketConn: conn, srv: g.srv, port: port,
		in: g.srv.newAllocBucket(), out: g.srv.newAllocBucket(),
	}
	if g.fast != nil && isUDP {
		c.udp = uc
		if c.self, err = newSender(uc); err != nil {
			c.udp = nil
			return c, addr, nil // pion reads it
		}
		c.slow = make(chan slowPacket, slowQueue)
		c.done = make(chan struct{})
		if err := g.fast.adopt(c); err != nil {
			// The loop is gone (logged when it stopped): pion reads this
			// one, as it reads every relay socket elsewhere.
			c.udp, c.self, c.slow, c.done = nil, nil, nil, nil
			return c, addr, nil
		}
		c.fast = g.fast
	}
	return c, addr, nil
}

// slowQueue bounds the datagrams from peers waiting for pion (Data
// indications, or no channel yet); beyond it they are dropped like any
// datagram arriving faster than it can be relayed.
const slowQueue = 256

type slowPacket struct {
	data []byte
	from *net.UDPAddr
}

type countingConn struct {
	net.PacketConn
	srv       *Server
	port      int
	in, out   *rate.Limiter // max-bps per direction; nil when unlimited
	closeOnce sync.Once

	// Set when the relay loop reads this socket.
	fast    *fastPath
	udp     *net.UDPConn
	self    *sender // raw sends to peers
	loopID  uint32
	slow    chan slowPacket
	done    chan struct{}
	peerMap atomic.Pointer[map[netip.AddrPort]peerRoute] // the peers with a channel
	permMap atomic.Pointer[map[netip.Addr]bool]          // the peers with a permission
}

// permits reports whether the allocation has a permission for peer, as
// pion's events tell the fast path.
func (c *countingConn) permits(peer netip.Addr) bool {
	m := c.permMap.Load()
	return m != nil && (*m)[peer]
}

func (c *countingConn) routes() map[netip.AddrPort]peerRoute {
	if m := c.peerMap.Load(); m != nil {
		return *m
	}
	return nil
}

func (c *countingConn) setRoutes(m map[netip.AddrPort]peerRoute) { c.peerMap.Store(&m) }

func (c *countingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.slow != nil {
		select {
		case pkt := <-c.slow:
			return copy(p, pkt.data), pkt.from, nil
		case <-c.done:
			return 0, nil, net.ErrClosed
		}
	}
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if n > 0 && err == nil && !c.allowIn(n) {
			continue
		}
		return n, addr, err
	}
}

// allowIn applies the bandwidth caps to n bytes from a peer and counts
// them when they pass.
func (c *countingConn) allowIn(n int) bool {
	if !c.srv.bandwidthAllows(c.in, c.srv.capacityIn, n) {
		c.srv.metrics.droppedBandwidth.Inc()
		return false
	}
	c.srv.metrics.relayedInBytes.Add(float64(n))
	c.srv.metrics.relayedInPackets.Inc()
	return true
}

func (c *countingConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	udp, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.PacketConn.WriteTo(p, addr)
	}
	if err := c.sendToPeer(p, addrPortOf(udp)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// sendToPeer relays one datagram to a peer. A datagram the policy or the
// caps refuse is dropped like any lost one: an error would only make pion
// log once per packet the client sends.
func (c *countingConn) sendToPeer(p []byte, peer netip.AddrPort) error {
	if !c.admitOut(len(p), peer) {
		return nil
	}
	var n int
	var err error
	if uc, ok := c.PacketConn.(*net.UDPConn); ok {
		n, err = uc.WriteToUDPAddrPort(p, peer)
	} else {
		n, err = c.PacketConn.WriteTo(p, net.UDPAddrFromAddrPort(peer))
	}
	c.countOut(n)
	return err
}

// admitOut applies the peer policy and the bandwidth caps to a datagram
// of n bytes towards peer.
func (c *countingConn) admitOut(n int, peer netip.AddrPort) bool {
	if !c.srv.datagramAllowed(peer) {
		return false
	}
	if !c.srv.bandwidthAllows(c.out, c.srv.capacityOut, n) {
		c.srv.metrics.droppedBandwidth.Inc()
		return false
	}
	return true
}

func (c *countingConn) countOut(n int) {
	if n > 0 {
		c.srv.metrics.relayedOutBytes.Add(float64(n))
		c.srv.metrics.relayedOutPackets.Inc()
	}
}

func (c *countingConn) Close() error {
	c.closeOnce.Do(func() {
		c.srv.livePorts.remove(c.port)
		if c.fast != nil {
			c.fast.release(c)
		}
		if c.done != nil {
			close(c.done)
		}
	})
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
