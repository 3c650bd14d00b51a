package turn

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
)

// A datagram on a client socket that pion can only refuse costs pion more
// than a useful one: it copies it, decodes it, builds an error with fmt
// (pion/stun names every attribute type through a map it rebuilds on each
// call), logs it and reports it to OnAllocationError. Under a flood of
// junk the socket's one reader fell behind, the socket buffer filled, and a
// relayed pair's ChannelData waited behind tens of thousands of junk
// datagrams (issue 18: p99 119 ms, probes lost). screen drops such
// datagrams where they are read, in the batch, without a copy or an
// allocation, so the reader keeps up.

// screen reports whether pkt from a client must be dropped unread: it is
// neither a well-framed STUN message nor ChannelData, or it is something
// only a client with an allocation may send (ChannelData, an indication)
// and from has none, or a class no client sends (a response). Requests
// go on to the gate, which budgets the unauthenticated ones per source.
func (g *gate) screen(pkt []byte, from net.Addr) bool {
	if usable(pkt, func() bool { return g.s.clients.has(addrPortOf(from)) }) {
		return false
	}
	g.s.metrics.droppedJunk.Inc()
	return true
}

// usable is screen's verdict; allocated is asked only when it matters.
func usable(pkt []byte, allocated func() bool) bool {
	if len(pkt) < channelDataHeader {
		return false
	}
	switch pkt[0] >> 6 {
	case 1: // ChannelData: 0x4000-0x7FFF, as pion reads it
		size := int(binary.BigEndian.Uint16(pkt[2:4]))
		return channelDataHeader+size <= len(pkt) && allocated()
	case 0: // STUN
		if !stunFramed(pkt) {
			return false
		}
		switch binary.BigEndian.Uint16(pkt) & typeClassMask {
		case classRequest:
			return true
		case classIndication:
			return allocated()
		}
	}
	return false // responses, and what is neither
}

const classIndication = 0x0010

// stunFramed checks a STUN message's header and that its attributes tile
// its body exactly (each a type, a length and a value padded to four
// bytes), as pion's decoder requires: what fails here fails there.
func stunFramed(pkt []byte) bool {
	if len(pkt) < stunHeaderLen || binary.BigEndian.Uint32(pkt[4:8]) != magicCookie {
		return false
	}
	size := int(binary.BigEndian.Uint16(pkt[2:4]))
	if size%4 != 0 || stunHeaderLen+size != len(pkt) {
		return false
	}
	for b := pkt[stunHeaderLen:]; len(b) > 0; {
		if len(b) < 4 {
			return false
		}
		l := (int(binary.BigEndian.Uint16(b[2:4])) + 3) &^ 3
		if 4+l > len(b) {
			return false
		}
		b = b[4+l:]
	}
	return true
}

// allocClients counts the allocations of each client transport address,
// so screen can tell ChannelData and indications pion would refuse
// (no allocation for their source) without asking pion.
type allocClients struct {
	mu sync.RWMutex
	n  map[netip.AddrPort]int
}

func (c *allocClients) add(a netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[netip.AddrPort]int)
	}
	c.n[a]++
}

func (c *allocClients) remove(a netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[a]--; c.n[a] <= 0 {
		delete(c.n, a)
	}
}

func (c *allocClients) has(a netip.AddrPort) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.n[a] > 0
}
