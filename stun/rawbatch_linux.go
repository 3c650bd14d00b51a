//go:build linux && (amd64 || arm64)

package stun

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
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
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
	n     int
	errno syscall.Errno
	// read and write are the RawConn callbacks, made once.
	read, write func(fd uintptr) bool
	count       int
}

// mmsghdr is struct mmsghdr on 64-bit Linux.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

func newRawBatch(uc *net.UDPConn) batchConn {
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	b := &rawBatch{raw: raw, hdrs: make([]mmsghdr, batchSize), iovs: make([]unix.Iovec, batchSize),
		names: make([]unix.RawSockaddrAny, batchSize)}
	var domain int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		domain, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
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
		h := &b.hdrs[i].hdr
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Namelen = unix.SizeofSockaddrAny
	}
	if err := b.raw.Read(b.read); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	for i := range b.n {
		ms[i].N = int(b.hdrs[i].len)
		ms[i].Addr = net.UDPAddrFromAddrPort(decodeSockaddr(&b.names[i]))
	}
	return b.n, nil
}

func (b *rawBatch) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	b.count = 0
	for i := range min(len(ms), len(b.hdrs)) {
		ua, ok := ms[i].Addr.(*net.UDPAddr)
		if !ok || !b.encode(&b.names[i], ua.AddrPort()) {
			break
		}
		buf := ms[i].Buffers[0]
		b.iovs[i].Base = &buf[0]
		b.iovs[i].SetLen(len(buf))
		h := &b.hdrs[i].hdr
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		if !b.v6 {
			h.Namelen = unix.SizeofSockaddrInet4
		}
		b.count++
	}
	if b.count == 0 {
		return 0, errNotUDPAddr
	}
	if err := b.raw.Write(b.write); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	return b.n, nil
}

// encode writes to for this socket's family; an IPv6 destination on an
// IPv4 socket cannot be sent.
func (b *rawBatch) encode(sa *unix.RawSockaddrAny, to netip.AddrPort) bool {
	addr := to.Addr()
	if b.v6 {
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		*in = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: addr.As16()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&in.Port))[:], to.Port())
		return true
	}
	if addr = addr.Unmap(); !addr.Is4() {
		return false
	}
	in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
	*in = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: addr.As4()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&in.Port))[:], to.Port())
	return true
}

func decodeSockaddr(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&in.Port))[:]))
	case unix.AF_INET6:
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom16(in.Addr).Unmap(), binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&in.Port))[:]))
	}
	return netip.AddrPort{}
}
