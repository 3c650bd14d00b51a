package turn

import (
	"encoding/binary"
	"hash/fnv"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Media between a UDP client and a peer almost always travels as
// ChannelData, and that path runs beside pion rather than through it. pion
// keeps the control plane (allocations, permissions, channel binds, Send
// and Data indications) and reports each channel bind and its end through
// its event handler. With those:
//   - ChannelData from a client goes from the TURN socket's reader straight
//     to the relay socket (forward), skipping pion's per-packet lookups;
//   - datagrams from peers are read by a few loops over epoll (one per UDP
//     socket, so one per core, each owning a share of the allocations)
//     with recvmmsg and sent on to clients with sendmmsg
//     (relayloop_linux.go), where pion
//     wakes one goroutine per allocation per datagram.
//
// Whatever the fast path does not know (no channel, a TCP client, a Send
// indication) goes to pion as before, so both paths decide alike.

// channelKey names a channel from the client's side: the server socket's
// address, the client's, and the channel number.
type channelKey struct {
	local, client netip.AddrPort
	number        uint16
}

// channelRoute is where a client's ChannelData goes.
type channelRoute struct {
	relay *countingConn
	peer  netip.AddrPort
	to    *rawSockaddr // peer, encoded for the relay socket
}

// peerRoute is where a peer's datagram goes: to the client, framed as
// ChannelData, out of the server socket with the allocation's address.
type peerRoute struct {
	key channelKey
	out *sender
	to  *rawSockaddr // key.client, encoded for out's socket
}

type fastPath struct {
	s     *Server
	loops []*relayLoop // a relay socket belongs to loops[port % len(loops)]
	// senders are the UDP sockets answering for each local address; with
	// SO_REUSEPORT several share an address, and a client's ChannelData
	// leaves by one of them chosen by its address, so no one socket's
	// send buffer carries every client's media.
	senders map[netip.AddrPort][]*sender

	// Datagrams the fast path took from clients (relayed, or dropped by
	// the policy or the caps) and sent to clients.
	toPeers, toClients atomic.Uint64
	// segmented counts the datagrams that left in UDP_SEGMENT messages.
	segmented atomic.Uint64

	mu       sync.RWMutex
	channels map[channelKey]channelRoute
	relays   map[int]*countingConn // by relay port, loop-read relays only
}

// newFastPath returns nil where the relay loop cannot run (not Linux, or a
// socket that is not a *net.UDPConn): pion then does all the relaying.
func newFastPath(s *Server, sockets []net.PacketConn) *fastPath {
	if len(sockets) == 0 {
		return nil
	}
	senders := make(map[netip.AddrPort][]*sender)
	for _, pc := range sockets {
		uc, ok := pc.(*net.UDPConn)
		if !ok {
			return nil
		}
		out, err := newSender(uc)
		if err != nil {
			return nil
		}
		local := addrPortOf(uc.LocalAddr())
		senders[local] = append(senders[local], out)
	}
	// As many loops as server sockets: one loop would hold the relay to
	// one core.
	loops := make([]*relayLoop, 0, len(sockets))
	for range sockets {
		loop, err := newRelayLoop(s)
		if err != nil {
			for _, l := range loops {
				l.close()
			}
			s.log.Warn("relay fast path off: pion relays every datagram", "err", err)
			return nil
		}
		loops = append(loops, loop)
	}
	return &fastPath{s: s, loops: loops, senders: senders,
		channels: make(map[channelKey]channelRoute), relays: make(map[int]*countingConn)}
}

// addrPortOf reads a UDP address as a netip.AddrPort with IPv4 unmapped,
// the one spelling both directions of the fast path use as keys.
func addrPortOf(a net.Addr) netip.AddrPort {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// adopt hands a fresh relay socket to the loop.
func (f *fastPath) adopt(c *countingConn) error {
	if err := f.loopOf(c).add(c); err != nil {
		return err
	}
	f.mu.Lock()
	f.relays[c.port] = c
	f.mu.Unlock()
	return nil
}

// release forgets a relay socket that is closing, and its channels.
func (f *fastPath) release(c *countingConn) {
	f.loopOf(c).remove(c)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.relays[c.port] == c {
		delete(f.relays, c.port)
	}
	for _, r := range c.routes() {
		if f.channels[r.key].relay == c {
			delete(f.channels, r.key)
		}
	}
	c.setRoutes(nil)
}

// channelCreated is pion's OnChannelCreated.
func (f *fastPath) channelCreated(src, dst net.Addr, protocol string, relayAddr, peer net.Addr, number uint16) {
	if protocol != "UDP" {
		return // ChannelData over TCP stays with pion
	}
	out := f.senderFor(addrPortOf(dst), addrPortOf(src))
	if out == nil {
		return
	}
	to, ok := out.sockaddr(addrPortOf(src))
	if !ok {
		return
	}
	key := channelKey{local: addrPortOf(dst), client: addrPortOf(src), number: number}
	peerAP := addrPortOf(peer)
	f.mu.Lock()
	defer f.mu.Unlock()
	relay := f.relays[int(addrPortOf(relayAddr).Port())]
	if relay == nil {
		return
	}
	peerTo, ok := relay.self.sockaddr(peerAP)
	if !ok {
		return
	}
	f.channels[key] = channelRoute{relay: relay, peer: peerAP, to: peerTo}
	routes := make(map[netip.AddrPort]peerRoute, len(relay.routes())+1)
	for p, r := range relay.routes() {
		routes[p] = r
	}
	routes[peerAP] = peerRoute{key: key, out: out, to: to}
	relay.setRoutes(routes)
}

// senderFor picks the socket of local that sends to client.
func (f *fastPath) senderFor(local, client netip.AddrPort) *sender {
	socks := f.senders[local]
	if len(socks) == 0 {
		return nil
	}
	h := fnv.New32a()
	b, _ := client.MarshalBinary()
	_, _ = h.Write(b)
	return socks[h.Sum32()%uint32(len(socks))]
}

// permission is pion's OnPermissionCreated (granted true) and
// OnPermissionDeleted: the relay loop drops a datagram from an address
// without one before it spends any budget on it.
func (f *fastPath) permission(relayAddr net.Addr, peer net.IP, granted bool) {
	addr, ok := netip.AddrFromSlice(peer)
	if !ok {
		return
	}
	addr = addr.Unmap()
	f.mu.Lock()
	defer f.mu.Unlock()
	relay := f.relays[int(addrPortOf(relayAddr).Port())]
	if relay == nil {
		return
	}
	var old map[netip.Addr]bool
	if m := relay.permMap.Load(); m != nil {
		old = *m
	}
	perms := make(map[netip.Addr]bool, len(old)+1)
	for a := range old {
		perms[a] = true
	}
	if granted {
		perms[addr] = true
	} else {
		delete(perms, addr)
	}
	relay.permMap.Store(&perms)
}

// channelDeleted is pion's OnChannelDeleted: the bind expired or its
// allocation ended.
func (f *fastPath) channelDeleted(src, dst net.Addr, protocol string, _, peer net.Addr, number uint16) {
	if protocol != "UDP" {
		return
	}
	key := channelKey{local: addrPortOf(dst), client: addrPortOf(src), number: number}
	f.mu.Lock()
	defer f.mu.Unlock()
	route, ok := f.channels[key]
	if !ok {
		return
	}
	delete(f.channels, key)
	peerAP := addrPortOf(peer)
	old := route.relay.routes()
	routes := make(map[netip.AddrPort]peerRoute, len(old))
	for p, r := range old {
		if p != peerAP {
			routes[p] = r
		}
	}
	route.relay.setRoutes(routes)
}

// forwarder relays one server socket's ChannelData to peers, from the
// socket's reader: take keeps a known channel's datagram, release sends
// what was kept, a run from one client to one peer as one message where
// the kernel can segment it (relaysend_linux.go). Whatever take leaves
// goes to pion.
type forwarder struct {
	f        *fastPath
	local    netip.AddrPort // the socket's address, as channels are keyed
	out      *directWriter
	kept     []keptDatagram
	consumed int // datagrams taken since the last release
}

// keptDatagram is a client's ChannelData bound for its peer: data points
// into the reader's buffer until release.
type keptDatagram struct {
	relay *countingConn
	to    *rawSockaddr
	data  []byte
}

func (f *fastPath) newForwarder(local netip.AddrPort) *forwarder {
	return &forwarder{f: f, local: local, out: newDirectWriter(), kept: make([]keptDatagram, 0, 64)}
}

// take keeps pkt when it is ChannelData on a channel the fast path knows,
// after the peer policy and bandwidth caps, and reports whether pion must
// not see it.
func (w *forwarder) take(pkt []byte, from net.Addr) bool {
	if len(pkt) < channelDataHeader || pkt[0]&0xC0 != 0x40 {
		return false
	}
	size := int(binary.BigEndian.Uint16(pkt[2:4]))
	if channelDataHeader+size > len(pkt) {
		return false // pion drops it and says why in its log
	}
	key := channelKey{local: w.local, client: addrPortOf(from), number: binary.BigEndian.Uint16(pkt)}
	w.f.mu.RLock()
	route, ok := w.f.channels[key]
	w.f.mu.RUnlock()
	if !ok {
		return false
	}
	if route.relay.admitOut(size, route.peer) {
		w.kept = append(w.kept, keptDatagram{relay: route.relay, to: route.to,
			data: pkt[channelDataHeader : channelDataHeader+size]})
	}
	w.consumed++
	return true
}

// release sends what take kept.
func (w *forwarder) release() {
	packets, bytes := 0, 0
	for i := 0; i < len(w.kept); {
		took, sent, n := w.out.sendRun(w.kept[i:])
		packets += sent
		bytes += n
		i += took
	}
	clear(w.kept) // no references into the reader's buffer
	w.kept = w.kept[:0]
	if w.consumed > 0 {
		w.f.toPeers.Add(uint64(w.consumed))
		w.consumed = 0
	}
	if packets > 0 {
		m := w.f.s.metrics
		m.relayedOutPackets.Add(float64(packets))
		m.relayedOutBytes.Add(float64(bytes))
	}
}

func (f *fastPath) loopOf(c *countingConn) *relayLoop { return f.loops[c.port%len(f.loops)] }

func (f *fastPath) close() {
	for _, l := range f.loops {
		l.close()
	}
}

// channelDataHeader is ChannelData's channel number and length (RFC 8656
// 12.4). Over UDP no padding follows the data.
const channelDataHeader = 4
