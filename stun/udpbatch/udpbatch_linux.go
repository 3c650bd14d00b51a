//go:build linux && (amd64 || arm64)

// Package udpbatch holds what raw recvmmsg/sendmmsg callers share: the
// kernel's struct mmsghdr and socket addresses encoded and decoded
// without allocating, and UDP segmentation (gso_linux.go). The STUN fast
// path (stun) and the relay's data path (turn) both read and write with
// it.
package udpbatch

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mmsghdr is struct mmsghdr on 64-bit Linux.
type Mmsghdr struct {
	Hdr unix.Msghdr
	Len uint32
	_   [4]byte
}

// Decode reads the address recvmmsg wrote, IPv4 unmapped.
func Decode(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), port(&in.Port))
	case unix.AF_INET6:
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom16(in.Addr).Unmap(), port(&in.Port))
	}
	return netip.AddrPort{}
}

// Encode writes to into sa for a socket of family AF_INET6 (v6: IPv4 as
// ::ffff:a.b.c.d) or AF_INET, and returns the length to pass with it; 0
// when an IPv4 socket cannot send to an IPv6 address.
func Encode(sa *unix.RawSockaddrAny, to netip.AddrPort, v6 bool) uint32 {
	addr := to.Addr()
	if v6 {
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		*in = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: addr.As16()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&in.Port))[:], to.Port())
		return unix.SizeofSockaddrInet6
	}
	if addr = addr.Unmap(); !addr.Is4() {
		return 0
	}
	in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
	*in = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: addr.As4()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&in.Port))[:], to.Port())
	return unix.SizeofSockaddrInet4
}

// port reads a sockaddr's port, stored in network byte order.
func port(p *uint16) uint16 { return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(p))[:]) }
