package turn

import (
	"net"
	"time"

	"github.com/pion/stun/v2"
)

// gatedPacketConn puts the gate in front of pion on one UDP socket. Like
// any net.PacketConn handed to pion it has one reader, pion's read loop,
// and many writers.
type gatedPacketConn struct {
	net.PacketConn
	g *gate
	// fwd relays ChannelData on the fast path when no stun.Conn below
	// does it; nil otherwise.
	fwd *forwarder
	// screened: the stun.Conn below drops junk already (screen.go).
	screened bool
	// held is a verified request waiting for a fresh pion nonce: ReadFrom
	// returned the synthetic request first, and pion answers it before it
	// reads again.
	held     *stun.Message
	heldKey  []byte
	heldFrom net.Addr
}

func (c *gatedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		if c.held != nil {
			m, key, from := c.held, c.heldKey, c.heldFrom
			c.held, c.heldKey, c.heldFrom = nil, nil, nil
			if n, ok := c.deliver(p, m, key); ok {
				return n, from, nil
			}
			continue
		}
		n, from, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, from, err
		}
		if c.fwd != nil && c.fwd.take(p[:n], from) {
			c.fwd.release()
			continue
		}
		if !c.screened && c.g.screen(p[:n], from) {
			continue
		}
		v := c.g.inbound(p[:n], from, "udp")
		switch v.action {
		case gatePass:
			return n, from, nil
		case gateReply:
			if v.reply != nil {
				_, _ = c.PacketConn.WriteTo(v.reply, from)
			}
		case gateRewrite:
			if _, fresh := c.g.freshPionNonce(time.Now()); !fresh {
				c.held, c.heldKey, c.heldFrom = v.msg, v.key, from
				return copy(p, c.g.synthetic()), from, nil
			}
			if n, ok := c.deliver(p, v.msg, v.key); ok {
				return n, from, nil
			}
		case gateDrop:
		}
	}
}

// deliver writes the re-signed request into p.
func (c *gatedPacketConn) deliver(p []byte, m *stun.Message, key []byte) (int, bool) {
	nonce, ok := c.g.freshPionNonce(time.Now())
	if !ok {
		return 0, false
	}
	raw, err := rewrite(m, key, nonce)
	if err != nil || len(raw) > len(p) {
		return 0, false
	}
	return copy(p, raw), true
}

func (c *gatedPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	out := c.g.outbound(p, addr, "udp")
	if out == nil {
		return len(p), nil
	}
	if _, err := c.PacketConn.WriteTo(out, addr); err != nil {
		return 0, err
	}
	return len(p), nil
}
