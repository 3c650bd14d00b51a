//go:build linux

package main

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The receive timestamp is when the bytes reached the socket, not when
// they were read: bytes left unread keep the time they arrived.
func TestRxConnStampsArrival(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := dialStamped(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rc, ok := nc.(*rxConn)
	if !ok {
		t.Fatalf("dialStamped gave %T, want *rxConn", nc)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	// The kernel turns stamping on shortly after the first socket asks.
	buf := make([]byte, 16)
	for deadline := time.Now().Add(5 * time.Second); rc.last.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no receive timestamps")
		}
		if _, err := peer.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := rc.Read(buf); err != nil {
			t.Fatal(err)
		}
	}

	before := time.Now().UnixNano()
	if _, err := peer.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, rc, 5)
	queued := time.Now().UnixNano()
	for time.Now().UnixNano() < queued+int64(2*time.Millisecond) {
		// The reader comes late, as a starved one would.
	}
	t0 := now()
	if n, err := rc.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if ts := rc.last.Load(); ts < before || ts > queued {
		t.Fatalf("stamp %d not between the write (%d) and the bytes queued (%d)", ts, before, queued)
	}
	if a := arrival(rc, t0); t0-a < int64(2*time.Millisecond) {
		t.Fatalf("arrival %s before the read, want at least the 2ms the reader came late", time.Duration(t0-a))
	}

	// Deadlines and the end of the stream behave as on a *net.TCPConn.
	_ = rc.SetReadDeadline(time.Now().Add(time.Millisecond))
	if _, err := rc.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	_ = rc.SetReadDeadline(time.Time{})
	peer.Close()
	if _, err := rc.Read(buf); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want EOF", err)
	}
}

// waitQueued waits, up to 5 s, for c's socket to become readable (poll(2)
// on it, not a read, so the bytes stay queued), then checks that n bytes
// wait: a write of n bytes on loopback arrives whole.
func waitQueued(t *testing.T, c *rxConn, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var ready, queued int
	var pollErr error
	if err := c.raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			ready, pollErr = unix.Poll(fds, max(1, int(time.Until(deadline).Milliseconds())))
			if !errors.Is(pollErr, unix.EINTR) || time.Now().After(deadline) { // EINTR: the runtime's preemption signal
				break
			}
		}
		queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	}); err != nil {
		t.Fatal(err)
	}
	if pollErr != nil || ready == 0 || queued < n {
		t.Fatalf("%d bytes queued, want %d (poll: %d ready, %v)", queued, n, ready, pollErr)
	}
}

// A frame stamped by its arrival never counts as later than its read.
func TestArrivalWithoutStamp(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := arrival(a, 12345); got != 12345 {
		t.Fatalf("arrival on an unstamped conn: %d, want the read time", got)
	}
}

// parseRxStamp reads a timestamp among other control messages, refuses
// truncated ones, and allocates nothing.
func TestParseRxStamp(t *testing.T) {
	msg := func(level, typ int32, data []byte) []byte {
		b := make([]byte, unix.CmsgSpace(len(data)))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = level, typ
		h.SetLen(unix.CmsgLen(len(data)))
		copy(b[unix.CmsgLen(0):], data)
		return b
	}
	ts := unix.NsecToTimespec(1_795_765_301_247_886_116)
	stamp := unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts))
	other := msg(unix.SOL_SOCKET, unix.SCM_RIGHTS, []byte{1, 2, 3, 4})
	both := append(append([]byte{}, other...), msg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, stamp)...)
	if got, ok := parseRxStamp(both); !ok || got != ts.Nano() {
		t.Fatalf("got %d, %v; want %d", got, ok, ts.Nano())
	}
	for _, bad := range [][]byte{nil, other, both[:len(both)-1], both[:3]} {
		if _, ok := parseRxStamp(bad); ok {
			t.Fatalf("stamp found in %v", bad)
		}
	}
	if n := testing.AllocsPerRun(100, func() { parseRxStamp(both) }); n != 0 {
		t.Fatalf("%.0f allocations per parse", n)
	}
}
