//go:build linux && (amd64 || arm64)

package stun

import (
	"net"
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
	// read and write are the RawConn callbacks, made once.
	read, write func(fd uintptr) bool
	count       int
}

func newRawBatch(uc *net.UDPConn) batchConn {
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	b := &rawBatch{raw: raw, hdrs: make([]udpbatch.Mmsghdr, batchSize), iovs: make([]unix.Iovec, batchSize),
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
		h := &b.hdrs[i].Hdr
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
		ms[i].N = int(b.hdrs[i].Len)
		ms[i].Addr = net.UDPAddrFromAddrPort(udpbatch.Decode(&b.names[i]))
	}
	return b.n, nil
}

func (b *rawBatch) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	b.count = 0
	for i := range min(len(ms), len(b.hdrs)) {
		ua, ok := ms[i].Addr.(*net.UDPAddr)
		if !ok {
			break
		}
		namelen := udpbatch.Encode(&b.names[i], ua.AddrPort(), b.v6)
		if namelen == 0 {
			break
		}
		buf := ms[i].Buffers[0]
		b.iovs[i].Base = &buf[0]
		b.iovs[i].SetLen(len(buf))
		h := &b.hdrs[i].Hdr
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Namelen = namelen
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
