package stun

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Binding floods arrive many per wakeup: reading them with one recvmmsg and
// answering them with one sendmmsg (golang.org/x/net batches) spends two
// system calls per batch instead of two per request.

const (
	batchSize  = 32
	batchBufSz = 2048 // above pion's 1600-byte inbound MTU
)

// batchConn is what ipv4.PacketConn and ipv6.PacketConn share.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// v6Batch adapts ipv6.PacketConn, whose Message is the same type.
type v6Batch struct{ *ipv6.PacketConn }

func (b v6Batch) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	return b.PacketConn.ReadBatch(ms, flags)
}

func (b v6Batch) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	return b.PacketConn.WriteBatch(ms, flags)
}

func newBatchConn(pc net.PacketConn) batchConn {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	if raw := newRawBatch(uc); raw != nil {
		return raw
	}
	if la, ok := uc.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
		return ipv4.NewPacketConn(uc)
	}
	return v6Batch{ipv6.NewPacketConn(uc)} // IPv6 or dual-stack
}

// batch is the per-socket state of the batched reader; only the socket's
// single reader touches it.
type batch struct {
	conn       batchConn
	in         []ipv4.Message
	next, have int // in[next:have] are read and not yet handed out
	out        []ipv4.Message
	pending    int // answers queued in out
}

func newBatch(bc batchConn) *batch {
	b := &batch{conn: bc, in: make([]ipv4.Message, batchSize), out: make([]ipv4.Message, batchSize)}
	for i := range b.in {
		b.in[i].Buffers = [][]byte{make([]byte, batchBufSz)}
		b.out[i].Buffers = [][]byte{make([]byte, 0, batchBufSz)}
	}
	return b
}

// queue copies an answer for addr into the next out slot, flushing first
// when the batch is full.
func (b *batch) queue(resp []byte, addr net.Addr) error {
	if b.pending == len(b.out) {
		if err := b.flush(); err != nil {
			return err
		}
	}
	m := &b.out[b.pending]
	m.Buffers[0] = append(m.Buffers[0][:0], resp...)
	m.Addr = addr
	b.pending++
	return nil
}

// flush sends the queued answers. A failed send drops the rest: answers to
// STUN Binding are retransmitted by clients anyway.
func (b *batch) flush() error {
	for sent := 0; sent < b.pending; {
		n, err := b.conn.WriteBatch(b.out[sent:b.pending], 0)
		if err != nil || n == 0 {
			b.pending = 0
			return err
		}
		sent += n
	}
	b.pending = 0
	return nil
}
