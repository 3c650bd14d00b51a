package signaling

import (
	"net"
	"sync"
	"syscall"
)

// A WebSocket connection reads through a 1 KiB buffer, which keeps an idle
// connection small but cost a read(2) per kilobyte when frames arrive in
// bursts: about 1.5 syscalls per 1.5 KB offer, a quarter of the server's
// CPU when relaying (docs/benchmarks.md, issue 9). So when a read fills
// the caller's buffer, more is probably queued: the connection takes what
// the kernel holds at that moment, without waiting, into a pooled buffer,
// and serves the next reads from it. The buffer goes back to the pool as
// soon as it is empty, which is before the reader next waits on the
// socket: an idle connection holds none.

const readAheadSize = 16 << 10

type readAheadBuf struct {
	b    [readAheadSize]byte
	r, w int
}

var readAheadBufs = sync.Pool{New: func() any { return new(readAheadBuf) }}

// readAhead is the connection's reader side; only the goroutine reading
// the connection uses it. Its zero value is ready.
type readAhead struct {
	raw   syscall.RawConn // found at the first full read: most idle connections never need it
	noRaw bool            // the connection has no descriptor (TLS)
	buf   *readAheadBuf   // unread bytes, or nil
}

// rawConn returns c's descriptor, or nil.
func (ra *readAhead) rawConn(c net.Conn) syscall.RawConn {
	if ra.raw == nil && !ra.noRaw {
		if sc, ok := c.(syscall.Conn); ok {
			ra.raw, _ = sc.SyscallConn()
		}
		ra.noRaw = ra.raw == nil
	}
	return ra.raw
}

// read reads into p from what was read ahead, else from c.
func (ra *readAhead) read(c net.Conn, p []byte) (int, error) {
	if a := ra.buf; a != nil {
		n := copy(p, a.b[a.r:a.w])
		a.r += n
		if a.r == a.w {
			ra.buf = nil
			readAheadBufs.Put(a)
		}
		return n, nil
	}
	n, err := c.Read(p)
	if err != nil || n < len(p) || ra.rawConn(c) == nil {
		return n, err
	}
	a := readAheadBufs.Get().(*readAheadBuf)
	m := 0
	_ = ra.raw.Read(func(fd uintptr) bool {
		// Non-blocking: EAGAIN, an error or the end of the stream leave
		// m at or below 0, and the next blocking read reports them.
		m, _ = syscall.Read(int(fd), a.b[:])
		return true
	})
	if m > 0 {
		a.r, a.w = 0, m
		ra.buf = a
	} else {
		readAheadBufs.Put(a)
	}
	return n, nil
}
