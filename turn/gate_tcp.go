package turn

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v2"
)

// frameTimeout bounds how long one STUN or ChannelData frame may take to
// arrive once its first byte has: a client that stops mid-header is cut.
// TCPIdleTimeout lowers it.
const frameTimeout = 10 * time.Second

func (c *gatedConn) frameDeadline() time.Time {
	return time.Now().Add(min(frameTimeout, c.l.g.s.cfg.TCPIdleTimeout))
}

// allocatedIdle is the idle limit on a connection that holds an
// allocation: pion caps allocation lifetime at an hour, and a client
// refreshes before it ends.
const allocatedIdle = time.Hour + time.Minute

// gatedListener caps connections per source address and wraps each one in
// the gate. It tracks its connections so Close ends them: pion's Close
// only closes the listener.
type gatedListener struct {
	net.Listener
	g       *gate
	network string // "tcp" or "tls"

	mu     sync.Mutex
	perIP  map[netip.Addr]int
	conns  map[*gatedConn]struct{}
	closed bool
}

func newGatedListener(l net.Listener, g *gate, network string) *gatedListener {
	return &gatedListener{Listener: l, g: g, network: network,
		perIP: make(map[netip.Addr]int), conns: make(map[*gatedConn]struct{})}
}

func (l *gatedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := sourceKey(c.RemoteAddr())
		l.mu.Lock()
		if l.closed || l.perIP[ip] >= l.g.s.cfg.MaxConnsPerIP {
			l.mu.Unlock()
			l.g.s.metrics.refusedConns.Inc()
			l.g.s.log.Debug("turn connection refused: per-address cap", "client", c.RemoteAddr(), "cap", l.g.s.cfg.MaxConnsPerIP)
			_ = c.Close()
			continue
		}
		l.perIP[ip]++
		gc := &gatedConn{Conn: c, l: l, ip: ip, br: bufio.NewReaderSize(c, 4096)}
		l.conns[gc] = struct{}{}
		l.mu.Unlock()
		return gc, nil
	}
}

func (l *gatedListener) release(c *gatedConn) {
	l.mu.Lock()
	delete(l.conns, c)
	if l.perIP[c.ip]--; l.perIP[c.ip] <= 0 {
		delete(l.perIP, c.ip)
	}
	l.mu.Unlock()
}

// closeIdle closes the connections that hold no allocation: while the
// server drains they could only wait for its end. Connections made later
// are served (an Allocate on them is answered 486) and close on their
// idle limit; those with an allocation keep it until it ends or the
// server closes.
func (l *gatedListener) closeIdle() {
	l.mu.Lock()
	var idle []*gatedConn
	for c := range l.conns {
		if !c.allocated.Load() {
			idle = append(idle, c)
		}
	}
	l.mu.Unlock()
	for _, c := range idle {
		_ = c.Close()
	}
}

func (l *gatedListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	conns := make([]*gatedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	return err
}

// gatedConn hands pion one whole frame per Read, after the gate. pion's
// STUNConn re-frames the bytes, which is cheap on whole frames.
type gatedConn struct {
	net.Conn
	l         *gatedListener
	ip        netip.Addr
	br        *bufio.Reader
	allocated atomic.Bool
	closeOnce sync.Once
	heldMsg   *stun.Message // a verified request behind the synthetic one
	heldKey   []byte
}

func (c *gatedConn) Read(p []byte) (int, error) {
	for {
		if c.heldMsg != nil {
			m, key := c.heldMsg, c.heldKey
			c.heldMsg, c.heldKey = nil, nil
			if n, ok := c.deliver(p, m, key); ok {
				return n, nil
			}
			continue
		}
		frame, err := c.readFrame()
		if err != nil {
			return 0, err
		}
		if len(frame) > len(p) {
			continue // pion drops frames over its MTU too
		}
		v := c.l.g.inbound(frame, c.RemoteAddr(), c.l.network)
		switch v.action {
		case gatePass:
			return copy(p, frame), nil
		case gateReply:
			if v.reply != nil {
				if _, err := c.Conn.Write(v.reply); err != nil {
					return 0, err
				}
			}
		case gateRewrite:
			if _, fresh := c.l.g.freshPionNonce(time.Now()); !fresh {
				c.heldMsg, c.heldKey = v.msg, v.key
				return copy(p, c.l.g.synthetic()), nil
			}
			if n, ok := c.deliver(p, v.msg, v.key); ok {
				return n, nil
			}
		case gateDrop:
		}
	}
}

func (c *gatedConn) deliver(p []byte, m *stun.Message, key []byte) (int, bool) {
	nonce, ok := c.l.g.freshPionNonce(time.Now())
	if !ok {
		return 0, false
	}
	raw, err := rewrite(m, key, nonce)
	if err != nil || len(raw) > len(p) {
		return 0, false
	}
	return copy(p, raw), true
}

// readFrame reads one STUN message or ChannelData frame (RFC 8656 11.5:
// padded to four bytes over stream transports) under the idle and frame
// deadlines.
func (c *gatedConn) readFrame() ([]byte, error) {
	if c.br.Buffered() == 0 {
		idle := c.l.g.s.cfg.TCPIdleTimeout
		if c.allocated.Load() {
			idle = allocatedIdle
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(idle))
		if _, err := c.br.Peek(1); err != nil {
			return nil, c.timeoutErr(err, "idle")
		}
	}
	if c.br.Buffered() < 4 {
		_ = c.Conn.SetReadDeadline(c.frameDeadline())
	}
	hdr, err := c.br.Peek(4)
	if err != nil {
		return nil, c.timeoutErr(err, "header")
	}
	length := int(binary.BigEndian.Uint16(hdr[2:4]))
	switch {
	case hdr[0]&0xC0 == 0:
		length += stunHeaderLen
	case hdr[0]&0xC0 == 0x40:
		length = 4 + (length+3)&^3
	default:
		return nil, fmt.Errorf("%w from %v", errNotTURNFrame, c.RemoteAddr())
	}
	if c.br.Buffered() < length {
		_ = c.Conn.SetReadDeadline(c.frameDeadline())
	}
	frame := make([]byte, length)
	if _, err := io.ReadFull(c.br, frame); err != nil {
		return nil, c.timeoutErr(err, "frame")
	}
	return frame, nil
}

func (c *gatedConn) timeoutErr(err error, where string) error {
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.l.g.s.metrics.timedOutConns.Inc()
		c.l.g.s.log.Debug("turn connection timed out", "client", c.RemoteAddr(), "waiting_for", where)
	}
	return err
}

func (c *gatedConn) Write(p []byte) (int, error) {
	c.track(p)
	out := c.l.g.outbound(p, c.RemoteAddr(), c.l.network)
	if out == nil {
		return len(p), nil
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// track notes when the connection gains or gives up its allocation, which
// sets its idle limit.
func (c *gatedConn) track(p []byte) {
	if len(p) < stunHeaderLen || p[0]&0xC0 != 0 {
		return
	}
	switch binary.BigEndian.Uint16(p) {
	case stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse).Value():
		c.allocated.Store(true)
	case stun.NewType(stun.MethodRefresh, stun.ClassSuccessResponse).Value():
		m := &stun.Message{Raw: append([]byte(nil), p...)}
		if m.Decode() != nil {
			return
		}
		if v, err := m.Get(stun.AttrLifetime); err == nil && len(v) == 4 && binary.BigEndian.Uint32(v) == 0 {
			c.allocated.Store(false)
		}
	}
}

func (c *gatedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.l.release(c) })
	return err
}
