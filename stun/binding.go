// Package stun answers STUN Binding requests (RFC 5389) right at the UDP
// socket the TURN server shares. Binding is the packet a public STUN/TURN
// port sees most, and it needs neither authentication nor state, so it
// never has to reach the TURN machinery.
package stun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/pion/stun/v2"
)

const (
	headerSize  = 20
	magicCookie = 0x2112A442
	software    = "switchboard"
)

// Conn wraps a UDP socket: ReadFrom answers Binding requests itself and
// returns every other packet to the caller. Like net.PacketConn it expects
// a single reader.
type Conn struct {
	net.PacketConn
	req, resp stun.Message
	answered  atomic.Uint64
	batch     *batch // nil: one request per read (not a *net.UDPConn, or RFC 5780)
	rfc       *Responder
	rfcIdx    [2]int // this socket's (ip, port) index in rfc
	// take and release: see Intercept.
	take    func(pkt []byte, from net.Addr) bool
	release func()
}

// NewConn wraps pc. A *net.UDPConn is read and answered in batches
// (batch.go).
func NewConn(pc net.PacketConn) *Conn {
	c := &Conn{PacketConn: pc}
	if bc := newBatchConn(pc); bc != nil {
		c.batch = newBatch(bc)
	}
	return c
}

// Intercept offers take every packet ReadFrom reads that is not a Binding
// request, before it is copied out; a packet take keeps (it returns true)
// is not returned. pkt stays valid until release is called, which is
// before ReadFrom waits for more packets and before it returns one: a
// batch's kept packets can then leave together. Call before the first
// ReadFrom.
func (c *Conn) Intercept(take func(pkt []byte, from net.Addr) bool, release func()) {
	c.take, c.release = take, release
}

// Answered reports how many Binding requests the socket has answered.
func (c *Conn) Answered() uint64 { return c.answered.Load() }

// ReadFrom implements net.PacketConn.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.batch != nil {
		return c.readBatched(p)
	}
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if c.answer(p[:n], addr) {
			continue
		}
		if c.take != nil && c.take(p[:n], addr) {
			c.releaseTaken()
			continue
		}
		return n, addr, nil
	}
}

// readBatched hands out the packets of one recvmmsg in turn, answering
// Binding requests into one sendmmsg, which is flushed before the reader
// blocks again or returns a packet.
func (c *Conn) readBatched(p []byte) (int, net.Addr, error) {
	b := c.batch
	for {
		for b.next < b.have {
			m := &b.in[b.next]
			b.next++
			pkt := m.Buffers[0][:m.N]
			if from, ok := m.Addr.(*net.UDPAddr); ok && looksLikeBinding(pkt) {
				if err := bindingResponse(&c.req, &c.resp, pkt, from); err == nil {
					if b.queue(c.resp.Raw, m.Addr) == nil {
						c.answered.Add(1)
					}
					continue
				}
			}
			if c.take != nil && c.take(pkt, m.Addr) {
				continue
			}
			_ = b.flush()
			c.releaseTaken()
			if m.N > len(p) {
				continue // larger than the reader's buffer: pion drops these too
			}
			return copy(p, pkt), m.Addr, nil
		}
		err := b.flush()
		c.releaseTaken()
		if err != nil && isClosed(err) {
			return 0, nil, err
		}
		n, err := b.conn.ReadBatch(b.in, 0)
		if err != nil {
			return 0, nil, err
		}
		b.next, b.have = 0, n
	}
}

func (c *Conn) releaseTaken() {
	if c.release != nil {
		c.release()
	}
}

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

// answer replies to pkt if it is a well-formed Binding request.
func (c *Conn) answer(pkt []byte, addr net.Addr) bool {
	from, ok := addr.(*net.UDPAddr)
	if !ok || !looksLikeBinding(pkt) {
		return false
	}
	if c.rfc != nil {
		return c.answerRFC5780(pkt, from)
	}
	if err := bindingResponse(&c.req, &c.resp, pkt, from); err != nil {
		return false // malformed: let the TURN server count and drop it
	}
	if _, err := c.PacketConn.WriteTo(c.resp.Raw, addr); err == nil {
		c.answered.Add(1)
	}
	return true
}

// looksLikeBinding checks the fixed header without decoding: the message
// type, the magic cookie and a length that fits the packet.
func looksLikeBinding(pkt []byte) bool {
	if len(pkt) < headerSize {
		return false
	}
	return binary.BigEndian.Uint16(pkt[0:2]) == stun.BindingRequest.Value() &&
		binary.BigEndian.Uint32(pkt[4:8]) == magicCookie &&
		int(binary.BigEndian.Uint16(pkt[2:4])) == len(pkt)-headerSize
}

// bindingResponse decodes pkt into req and builds the success response
// into resp: XOR-MAPPED-ADDRESS of from, SOFTWARE and FINGERPRINT.
func bindingResponse(req, resp *stun.Message, pkt []byte, from *net.UDPAddr) error {
	req.Raw = append(req.Raw[:0], pkt...)
	if err := req.Decode(); err != nil {
		return fmt.Errorf("%w: %w", errNotBinding, err)
	}
	if req.Type != stun.BindingRequest {
		return errNotBinding
	}
	if req.Contains(stun.AttrFingerprint) {
		if err := stun.Fingerprint.Check(req); err != nil {
			return fmt.Errorf("%w: %w", errNotBinding, err)
		}
	}
	return resp.Build(
		stun.NewTransactionIDSetter(req.TransactionID),
		stun.BindingSuccess,
		&stun.XORMappedAddress{IP: from.IP, Port: from.Port},
		stun.NewSoftware(software),
		stun.Fingerprint,
	)
}
