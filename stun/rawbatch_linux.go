//go:build linux && (amd64 || arm64)

package stun

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/switchboard-rtc/switchboard/stun/udpbatch"
)

// rawBatch is batchConn with recvmmsg and sendmmsg made as raw,
// non-blocking system calls; Go's poller parks the reader when nothing
// is queued. golang.org/x/net enters the scheduler's syscall state for
// each batch, and under load the runtime's monitor then hands the
// processor to another thread mid-call: a futex wake and a context switch
// per batch, which perf showed costing more than the batch saved.
type rawBatch struct {
	raw   syscall.RawConn
	v6    bool
	hdrs  []udpbatch.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
	n     int
	errno syscall.Errno
	// Answers to one client in one batch leave as one UDP_SEGMENT message
	// when gso; segs is how many answers each message carries.
	gso   bool
	segs  []int
	cmsgs [][]byte
	// read and write are the RawConn callbacks, made once.
	read, write func(fd uintptr) bool
	count       int
	// last is the source address of the latest datagram read, handed out
	// again for the next one from the same source: a burst (or a flood)
	// from one client costs one *net.UDPAddr, not one per datagram.
	lastAP   netip.AddrPort
	lastAddr *net.UDPAddr
}

func newRawBatch(uc *net.UDPConn) batchConn {
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	b := &rawBatch{raw: raw, hdrs: make([]udpbatch.Mmsghdr, batchSize), iovs: make([]unix.Iovec, batchSize),
		names: make([]unix.RawSockaddrAny, batchSize), segs: make([]int, batchSize), cmsgs: make([][]byte, batchSize)}
	for i := range b.cmsgs {
		b.cmsgs[i] = udpbatch.NewSegmentCmsg()
	}
	var domain int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		domain, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		b.gso = udpbatch.SegmentationAvailable(fd)
	}); err != nil || serr != nil {
		return nil
	}
	b.v6 = domain == unix.AF_INET6
	b.read = func(fd uintptr) bool {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])),
			uintptr(b.count), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EAGAIN {
			return false // park until readable
		}
		b.n, b.errno = int(n), errno
		return true
	}
	b.write = func(fd uintptr) bool {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])),
			uintptr(b.count), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EAGAIN {
			return false // wait until writable
		}
		b.n, b.errno = int(n), errno
		return true
	}
	return b
}

func (b *rawBatch) ReadBatch(ms []ipv4.Message, _ int) (int, error) {
	b.count = min(len(ms), len(b.hdrs))
	for i := range b.count {
		buf := ms[i].Buffers[0]
		b.iovs[i].Base = &buf[0]
		b.iovs[i].SetLen(len(buf))
		h := &b.hdrs[i].Hdr
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Namelen = unix.SizeofSockaddrAny
		h.Control = nil
		h.SetControllen(0)
	}
	if err := b.raw.Read(b.read); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	for i := range b.n {
		ms[i].N = int(b.hdrs[i].Len)
		// Shared: nobody writes to an address a reader returned.
		if ap := udpbatch.Decode(&b.names[i]); b.lastAddr == nil || ap != b.lastAP {
			b.lastAP, b.lastAddr = ap, net.UDPAddrFromAddrPort(ap)
		}
		ms[i].Addr = b.lastAddr
	}
	return b.n, nil
}

// WriteBatch sends ms as one sendmmsg and returns how many of ms left.
func (b *rawBatch) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	for {
		b.count = b.pack(ms)
		if b.count == 0 {
			return 0, errNotUDPAddr
		}
		if err := b.raw.Write(b.write); err != nil {
			return 0, err
		}
		if b.errno != 0 && b.segs[0] > 1 && (b.errno == unix.EIO || b.errno == unix.EINVAL) {
			b.gso = false // this socket or kernel cannot segment: again, one by one
			continue
		}
		if b.errno != 0 {
			return 0, b.errno
		}
		sent := 0
		for _, s := range b.segs[:b.n] {
			sent += s
		}
		return sent, nil
	}
}

// pack prepares ms as messages, a run of answers of one size to one
// address as one segmented message, and returns how many; it stops at the
// first message without a UDP address.
func (b *rawBatch) pack(ms []ipv4.Message) int {
	k := 0
	for i := 0; i < min(len(ms), len(b.hdrs)); k++ {
		ua, ok := ms[i].Addr.(*net.UDPAddr)
		if !ok {
			break
		}
		to := ua.AddrPort()
		namelen := udpbatch.Encode(&b.names[k], to, b.v6)
		if namelen == 0 {
			break
		}
		segs := 1
		if b.gso {
			run := ms[i:min(len(ms), len(b.hdrs))]
			segs = udpbatch.SegmentRun(len(run), func(j int) bool {
				ra, ok := run[j].Addr.(*net.UDPAddr)
				return ok && ra.AddrPort() == to
			}, func(j int) int { return len(run[j].Buffers[0]) })
		}
		for j := i; j < i+segs; j++ {
			buf := ms[j].Buffers[0]
			b.iovs[j].Base = &buf[0]
			b.iovs[j].SetLen(len(buf))
		}
		h := &b.hdrs[k].Hdr
		h.Iov = &b.iovs[i]
		h.SetIovlen(segs)
		h.Name = (*byte)(unsafe.Pointer(&b.names[k]))
		h.Namelen = namelen
		h.Control = nil
		h.SetControllen(0)
		if segs > 1 {
			udpbatch.SetSegmentSize(b.cmsgs[k], len(ms[i].Buffers[0]))
			h.Control = &b.cmsgs[k][0]
			h.SetControllen(len(b.cmsgs[k]))
		}
		b.segs[k] = segs
		i += segs
	}
	return k
}
