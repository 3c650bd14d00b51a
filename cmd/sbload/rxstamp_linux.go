//go:build linux

package main

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rxConn reads a TCP connection with recvmsg and keeps the kernel's
// receive timestamp of the newest bytes read (SO_TIMESTAMPNS): when they
// reached this tool's socket, before this tool's reader was scheduled to
// read them. A relayed offer's arrival latency ends there, so that the
// tool's own scheduling delay on a starved machine does not count as the
// server's.
type rxConn struct {
	*net.TCPConn
	raw  syscall.RawConn
	oob  []byte
	last atomic.Int64 // CLOCK_REALTIME ns of the newest bytes read; 0: not stamped
}

// dialStamped dials TCP with receive timestamps on, or plain TCP where
// the socket refuses them.
func dialStamped(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		return nc, nil
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return nc, nil
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nc, nil
	}
	return &rxConn{TCPConn: tcp, raw: raw, oob: make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))}, nil
}

func (c *rxConn) Read(b []byte) (int, error) {
	var n, oobn int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), b, c.oob, 0)
			if rerr != unix.EINTR {
				return rerr != unix.EAGAIN
			}
		}
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, err
	}
	if n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	// Unstamped bytes (the kernel turns stamping on a moment after the
	// first socket asks) count as arriving when read, never as early as
	// older bytes.
	ts, _ := parseRxStamp(c.oob[:oobn])
	c.last.Store(ts)
	return n, nil
}

// parseRxStamp finds SCM_TIMESTAMPNS among control messages, without
// allocating (unix.ParseSocketControlMessage would, once per read).
func parseRxStamp(oob []byte) (int64, bool) {
	for len(oob) >= unix.CmsgLen(0) {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < unix.CmsgLen(0) || n > len(oob) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS &&
			n >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			return (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)])).Nano(), true
		}
		oob = oob[min(unix.CmsgSpace(n-unix.CmsgLen(0)), len(oob)):]
	}
	return 0, false
}

// arrival is when the newest bytes read from nc reached the socket, on
// the tool's clock, given t = now() taken just after the read; t when nc
// has no timestamps. Only the age of the bytes is read from the wall
// clock, so a slewed wall clock shifts nothing.
func arrival(nc net.Conn, t int64) int64 {
	c, ok := nc.(*rxConn)
	if !ok {
		return t
	}
	last := c.last.Load()
	if last == 0 {
		return t
	}
	age := time.Now().UnixNano() - last
	return t - max(age, 0)
}
