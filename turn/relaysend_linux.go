//go:build linux && (amd64 || arm64)

package turn

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchboard-rtc/switchboard/stun/udpbatch"
)

// The send side of the fast path. What the relay loop read for clients in
// one round leaves in one sendmmsg per server socket; a run of datagrams
// of one size to one client, and likewise a client's run to one peer,
// leaves as one UDP_SEGMENT message (stun/udpbatch/gso_linux.go), which
// the kernel carries as one packet until the last moment. Most of a send's
// cost is per packet (docs/benchmarks.md).

// sendState is the relay loop's sending half.
type sendState struct {
	group    []outbound // one sender's datagrams this round, in order
	msgs     []udpbatch.Mmsghdr
	iovs     []unix.Iovec // one per datagram, in group order
	cmsgs    [][]byte     // a UDP_SEGMENT control message per message
	segs     []int        // datagrams in each message
	msgFirst []int        // each message's first datagram in group
	// For RawConn.Write: one closure, its arguments and results in fields.
	fn        func(fd uintptr) bool
	count, n  int
	errno     syscall.Errno
	gsoLogged bool
}

func newSendState() sendState {
	st := sendState{group: make([]outbound, 0, loopSlots), msgs: make([]udpbatch.Mmsghdr, loopSlots),
		iovs: make([]unix.Iovec, loopSlots), cmsgs: make([][]byte, loopSlots),
		segs: make([]int, loopSlots), msgFirst: make([]int, loopSlots)}
	for i := range st.cmsgs {
		st.cmsgs[i] = udpbatch.NewSegmentCmsg()
	}
	return st
}

// flush sends what drain routed to clients, one sendmmsg per server
// socket, and settles the round's counters.
func (l *relayLoop) flush() {
	for len(l.pending) > 0 {
		out := l.pending[0].out
		l.group = l.group[:0]
		rest := l.pending[:0]
		for _, p := range l.pending {
			if p.out == out {
				l.group = append(l.group, p)
			} else {
				rest = append(rest, p)
			}
		}
		l.pending = rest
		sent := l.sendGroup(out)
		l.s.fast.toClients.Add(uint64(sent))
		l.queueDrops += len(l.group) - sent
	}
	m := l.s.metrics
	if l.inPackets > 0 {
		m.relayedInPackets.Add(float64(l.inPackets))
		m.relayedInBytes.Add(float64(l.inBytes))
	}
	if l.bwDropped > 0 {
		m.droppedBandwidth.Add(float64(l.bwDropped))
	}
	if l.queueDrops+l.truncDrops > 0 {
		m.droppedRelayQueue.Add(float64(l.queueDrops + l.truncDrops))
	}
	if l.unpermitted > 0 {
		m.droppedNoPermission.Add(float64(l.unpermitted))
	}
	l.inPackets, l.inBytes, l.bwDropped, l.queueDrops, l.truncDrops, l.unpermitted = 0, 0, 0, 0, 0, 0
}

// sendGroup sends l.group out of o and returns how many datagrams left.
// A segmented message the kernel refuses is sent again unsegmented, and
// when the refusal says the socket or kernel cannot segment at all,
// segmentation stays off for o.
func (l *relayLoop) sendGroup(o *sender) (sent int) {
	gso := o.gso.Load()
	for first := 0; first < len(l.group); {
		k := l.pack(first, gso)
		done, n, errno := o.sendAll(l, k)
		sent += n
		if errno == 0 {
			return sent
		}
		if errno == unix.EIO || errno == unix.EINVAL {
			o.gso.Store(false)
			if !l.gsoLogged {
				l.gsoLogged = true
				l.s.log.Info("UDP segmentation refused by the kernel; sending datagrams one by one", "err", errno)
			}
		}
		first, gso = l.msgFirst[done], false
	}
	return sent
}

// pack prepares l.group[first:] as messages, runs merged when gso, and
// returns how many.
func (l *relayLoop) pack(first int, gso bool) int {
	k := 0
	for i := first; i < len(l.group); k++ {
		p := l.group[i]
		segs := 1
		if gso {
			run := l.group[i:]
			segs = udpbatch.SegmentRun(len(run), func(j int) bool { return run[j].to == p.to }, func(j int) int { return run[j].size })
		}
		for j := i; j < i+segs; j++ {
			l.iovs[j].Base = &l.bufs[l.group[j].slot][0]
			l.iovs[j].SetLen(l.group[j].size)
		}
		h := &l.msgs[k].Hdr
		h.Iov = &l.iovs[i]
		h.SetIovlen(segs)
		h.Name = (*byte)(unsafe.Pointer(&p.to.sa))
		h.Namelen = p.to.len
		h.Control = nil
		h.SetControllen(0)
		if segs > 1 {
			c := l.cmsgs[k]
			udpbatch.SetSegmentSize(c, p.size)
			h.Control = &c[0]
			h.SetControllen(len(c))
		}
		l.segs[k], l.msgFirst[k] = segs, i
		i += segs
	}
	return k
}

func (l *relayLoop) sendBatch(fd uintptr) bool {
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&l.msgs[l.n])),
		uintptr(l.count-l.n), unix.MSG_DONTWAIT, 0, 0)
	l.errno = errno
	if errno == 0 {
		l.n += int(n)
	}
	return true
}

// sendAll sends the first k packed messages. It returns the messages done
// (sent or skipped), the datagrams sent, and, when it stopped at a
// segmented message the kernel refused, the error. A full socket buffer
// drops the rest of the round, as the kernel drops a datagram it cannot
// queue; one bad destination (EINVAL, EPERM from a firewall) is skipped so
// it does not hold back the others.
func (o *sender) sendAll(l *relayLoop, k int) (done, sent int, refused syscall.Errno) {
	l.count, l.n = k, 0
	for l.n < k {
		before := l.n
		err := o.raw.Write(l.fn)
		switch {
		case err == nil && l.errno == 0 && l.n > before:
			for _, s := range l.segs[before:l.n] {
				sent += s
				if s > 1 {
					l.s.fast.segmented.Add(uint64(s))
				}
			}
		case err == nil && l.errno != 0 && l.errno != unix.EAGAIN && l.segs[l.n] > 1:
			return l.n, sent, l.errno
		case err == nil && l.errno != 0 && l.errno != unix.EAGAIN:
			l.n++
		default:
			return l.n, sent, 0
		}
	}
	return k, sent, 0
}

// directWriter sends a client's ChannelData data to its peer with raw
// sendto, or sendmsg for a segmented run; each server socket's reader has
// its own, so the closures RawConn.Write needs are made once.
type directWriter struct {
	empty [1]byte
	fn    func(fd uintptr) bool
	p     []byte
	to    *rawSockaddr
	errno syscall.Errno
	// For segmented runs.
	msgFn func(fd uintptr) bool
	hdr   unix.Msghdr
	iovs  []unix.Iovec
	cmsg  []byte
}

func newDirectWriter() *directWriter {
	w := &directWriter{iovs: make([]unix.Iovec, udpbatch.MaxSegments), cmsg: udpbatch.NewSegmentCmsg()}
	w.fn = func(fd uintptr) bool {
		_, _, w.errno = unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(w.p))), uintptr(len(w.p)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&w.to.sa)), uintptr(w.to.len))
		return true
	}
	w.msgFn = func(fd uintptr) bool {
		_, _, w.errno = unix.RawSyscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&w.hdr)), unix.MSG_DONTWAIT)
		return true
	}
	return w
}

// send reports whether the datagram left; a full socket buffer drops it.
func (w *directWriter) send(o *sender, p []byte, to *rawSockaddr) bool {
	if len(p) == 0 {
		p = w.empty[:0:1] // an empty datagram, as pion relays it; sendto needs a pointer
	}
	w.p, w.to = p, to
	err := o.raw.Write(w.fn)
	w.p, w.to = nil, nil
	return err == nil && w.errno == 0
}

// sendRun sends run[0] and, out of one segmented message, the datagrams
// after it that go the same way; it returns how many of run it took, and
// the datagrams and bytes of those that left.
func (w *directWriter) sendRun(run []keptDatagram) (took, sent, bytes int) {
	first := run[0]
	o := first.relay.self
	took = 1
	if o.gso.Load() {
		took = udpbatch.SegmentRun(len(run), func(i int) bool { return run[i].relay == first.relay && run[i].to == first.to },
			func(i int) int { return len(run[i].data) })
	}
	if took == 1 {
		if w.send(o, first.data, first.to) {
			return 1, 1, len(first.data)
		}
		return 1, 0, 0
	}
	for i, d := range run[:took] {
		w.iovs[i].Base = &d.data[0]
		w.iovs[i].SetLen(len(d.data))
	}
	udpbatch.SetSegmentSize(w.cmsg, len(first.data))
	w.hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&first.to.sa)), Namelen: first.to.len,
		Iov: &w.iovs[0], Control: &w.cmsg[0]}
	w.hdr.SetIovlen(took)
	w.hdr.SetControllen(len(w.cmsg))
	err := o.raw.Write(w.msgFn)
	w.hdr = unix.Msghdr{}
	switch {
	case err != nil || w.errno == unix.EAGAIN:
		return took, 0, 0 // closed, or a full buffer: dropped
	case w.errno == 0:
		first.relay.srv.fast.segmented.Add(uint64(took))
		for _, d := range run[:took] {
			bytes += len(d.data)
		}
		return took, took, bytes
	case w.errno == unix.EIO || w.errno == unix.EINVAL:
		o.gso.Store(false) // this socket or kernel cannot segment
	}
	for _, d := range run[:took] {
		if w.send(o, d.data, d.to) {
			sent++
			bytes += len(d.data)
		}
	}
	return took, sent, bytes
}

// sender is a UDP socket the fast path writes with raw system calls: a
// server socket (ChannelData to clients) or a relay socket (to peers).
type sender struct {
	raw syscall.RawConn
	v6  bool // AF_INET6 socket: IPv4 clients as IPv4-mapped addresses
	// gso: the kernel takes UDP_SEGMENT on this socket (probed when made,
	// cleared when a send says otherwise). Several loops send out of one
	// server socket.
	gso atomic.Bool
}

func newSender(uc *net.UDPConn) (*sender, error) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &sender{raw: raw}
	var serr error
	err = raw.Control(func(fd uintptr) {
		var domain int
		domain, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		s.v6 = domain == unix.AF_INET6
		s.gso.Store(udpbatch.SegmentationAvailable(fd))
	})
	return s, errors.Join(err, serr)
}

// rawSockaddr is a destination encoded for sendto/sendmmsg.
type rawSockaddr struct {
	sa  unix.RawSockaddrAny
	len uint32
}

// sockaddr encodes a destination for this socket's family.
func (o *sender) sockaddr(to netip.AddrPort) (*rawSockaddr, bool) {
	r := &rawSockaddr{}
	r.len = udpbatch.Encode(&r.sa, to, o.v6)
	return r, r.len != 0
}
