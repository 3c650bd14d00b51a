package stun

import (
	"encoding/binary"
	"net"
	"sync"

	"github.com/pion/stun/v2"
)

// Responder answers Binding requests as RFC 5780 describes, for NAT
// behaviour discovery: the server listens on two IP addresses and two
// ports (four sockets), says in OTHER-ADDRESS where the other pair is and
// in RESPONSE-ORIGIN which socket answered, and honours CHANGE-REQUEST by
// answering from the socket with the other address and/or port.
type Responder struct {
	ips   [2]net.IP // primary, alternate
	ports [2]int

	mu    sync.RWMutex
	socks map[[2]int]net.PacketConn // (ip index, port index) -> a socket bound there
}

// NewResponder pairs the primary address with the alternate one; sockets
// bound to any of the four combinations join with Add.
func NewResponder(primary, alternate *net.UDPAddr) *Responder {
	return &Responder{
		ips:   [2]net.IP{primary.IP, alternate.IP},
		ports: [2]int{primary.Port, alternate.Port},
		socks: make(map[[2]int]net.PacketConn),
	}
}

// Add registers a raw socket as a sender for its address and wraps it. It
// returns nil for a socket on none of the four addresses.
func (r *Responder) Add(pc net.PacketConn) *Conn {
	la, ok := pc.LocalAddr().(*net.UDPAddr)
	if !ok {
		return nil
	}
	idx, ok := r.index(la)
	if !ok {
		return nil
	}
	r.mu.Lock()
	if r.socks[idx] == nil {
		r.socks[idx] = pc
	}
	r.mu.Unlock()
	return &Conn{PacketConn: pc, rfc: r, rfcIdx: idx}
}

func (r *Responder) index(a *net.UDPAddr) ([2]int, bool) {
	var idx [2]int
	switch {
	case a.IP.Equal(r.ips[0]):
	case a.IP.Equal(r.ips[1]):
		idx[0] = 1
	default:
		return idx, false
	}
	switch a.Port {
	case r.ports[0]:
	case r.ports[1]:
		idx[1] = 1
	default:
		return idx, false
	}
	return idx, true
}

func (r *Responder) addr(idx [2]int) *net.UDPAddr {
	return &net.UDPAddr{IP: r.ips[idx[0]], Port: r.ports[idx[1]]}
}

const (
	changeIP   = 0x04
	changePort = 0x02
)

// answer replies from the socket CHANGE-REQUEST asks for (the receiving
// one when that socket does not exist).
func (c *Conn) answerRFC5780(pkt []byte, from *net.UDPAddr) bool {
	req, resp := &c.req, &c.resp
	req.Raw = append(req.Raw[:0], pkt...)
	if req.Decode() != nil || req.Type != stun.BindingRequest {
		return false
	}
	if req.Contains(stun.AttrFingerprint) && stun.Fingerprint.Check(req) != nil {
		return false
	}
	send := c.rfcIdx
	if v, err := req.Get(stun.AttrChangeRequest); err == nil && len(v) == 4 {
		flags := binary.BigEndian.Uint32(v)
		if flags&changeIP != 0 {
			send[0] ^= 1
		}
		if flags&changePort != 0 {
			send[1] ^= 1
		}
	}
	r := c.rfc
	r.mu.RLock()
	out := r.socks[send]
	r.mu.RUnlock()
	if out == nil {
		send, out = c.rfcIdx, c.PacketConn
	}
	origin := r.addr(send)
	other := r.addr([2]int{c.rfcIdx[0] ^ 1, c.rfcIdx[1] ^ 1})
	err := resp.Build(
		stun.NewTransactionIDSetter(req.TransactionID),
		stun.BindingSuccess,
		&stun.XORMappedAddress{IP: from.IP, Port: from.Port},
		addrAs{stun.MappedAddress{IP: from.IP, Port: from.Port}, stun.AttrMappedAddress},
		addrAs{stun.MappedAddress{IP: origin.IP, Port: origin.Port}, stun.AttrResponseOrigin},
		addrAs{stun.MappedAddress{IP: other.IP, Port: other.Port}, stun.AttrOtherAddress},
		stun.NewSoftware(software),
		stun.Fingerprint,
	)
	if err != nil {
		return false
	}
	if _, err := out.WriteTo(resp.Raw, from); err == nil {
		c.answered.Add(1)
	}
	return true
}

// addrAs writes a MAPPED-ADDRESS-style attribute under another type.
type addrAs struct {
	a stun.MappedAddress
	t stun.AttrType
}

func (s addrAs) AddTo(m *stun.Message) error { return s.a.AddToAs(m, s.t) }
