//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP generic segmentation offload (UDP_SEGMENT, Linux 4.18): a run of
// datagrams of one size to one destination is handed to the kernel as
// one message, which it routes, builds and passes down as one packet and
// cuts into datagrams at the last moment (on loopback, at the receiving
// socket; on a NIC, in the driver or the card). Most of a send's cost is
// per packet, not per byte.

const (
	// MaxSegments is UDP_MAX_SEGMENTS of kernels before 6.14.
	MaxSegments = 64
	// maxRunBytes keeps a run within one IP packet's 64 KiB before it is cut.
	maxRunBytes = 65000
	// MaxSegment is the largest datagram sent segmented: it fits every
	// path with IPv6's minimum MTU (1280). The kernel refuses segments
	// larger than the path MTU, where a lone datagram would be fragmented.
	MaxSegment = 1232
)

// SegmentRun is how many of n datagrams can leave as one segmented
// message, given whether the i-th goes where the first goes and its
// size: one size but for a shorter last one.
func SegmentRun(n int, same func(i int) bool, size func(i int) int) int {
	seg := size(0)
	if seg == 0 || seg > MaxSegment {
		return 1
	}
	k, total := 1, seg
	for k < n && k < MaxSegments && same(k) {
		s := size(k)
		if s == 0 || s > seg || total+s > maxRunBytes {
			break
		}
		total += s
		k++
		if s < seg {
			break
		}
	}
	return k
}

// NewSegmentCmsg is a UDP_SEGMENT control message; SetSegmentSize writes
// its value before each send.
func NewSegmentCmsg() []byte {
	b := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	return b
}

// SetSegmentSize sets the segment size of a NewSegmentCmsg message.
func SetSegmentSize(cmsg []byte, size int) {
	*(*uint16)(unsafe.Pointer(&cmsg[unix.CmsgLen(0)])) = uint16(size)
}

// SegmentationAvailable reports whether the kernel takes UDP_SEGMENT on
// the socket fd.
func SegmentationAvailable(fd uintptr) bool {
	_, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	return err == nil
}
