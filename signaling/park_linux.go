//go:build linux

package signaling

import (
	"fmt"
	"math"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// parker holds idle WebSocket connections without a goroutine each: a
// connection with nothing to read is armed, one-shot, in one epoll
// instance for the whole server, and handed to a fresh reader when bytes
// (or an end) arrive. The epoll instance is itself waited on through Go's
// poller, so an idle parker holds no thread either. The sockets stay
// registered with Go's poller, which does their reads and writes.
//
// A parked descriptor cannot be closed and reused under the parker: only
// a connection's reader closes its socket; everyone else shuts its read
// side (wsConn.drop), which wakes the parked reader.
type parker[C parkable] struct {
	ep    *os.File
	epfd  int // ep's, for EpollCtl
	epRaw syscall.RawConn
	wake  func(C) // starts a reader

	mu     sync.Mutex
	parked []C // by descriptor number
	closed bool

	// The run goroutine's own.
	events []unix.EpollEvent
	n      int
	waitFn func(uintptr) bool
}

func newParker[C parkable](wake func(C)) (*parker[C], error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "ws-park")
	epRaw, err := ep.SyscallConn()
	if err != nil {
		_ = ep.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &parker[C]{ep: ep, epfd: epfd, epRaw: epRaw, wake: wake, events: make([]unix.EpollEvent, 256)}
	p.waitFn = p.poll
	return p, nil
}

// park arms c's socket and reports true, or false when bytes are already
// waiting or the parker has closed: the caller then reads on. c's reader
// must not touch it after a true.
func (p *parker[C]) park(c C) bool {
	if p == nil {
		return false
	}
	// The descriptor is used without the poller's reference
	// (RawConn.Control, whose closure cost an allocation per park, the
	// idle connection's garbage): c's reader calls park, and only the
	// reader closes the socket.
	fd := c.parkFD()
	waiting, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	if err != nil || waiting > 0 {
		return false
	}
	// Level-triggered: bytes that come between the check and the arming
	// still wake it.
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !c.parking() { // see unpark
		return false
	}
	for int(fd) >= len(p.parked) {
		var none C
		p.parked = append(p.parked, none)
	}
	p.parked[fd] = c
	// The epoll descriptor is open while p.closed is false, under p.mu.
	// A socket stays in the set between parks (one-shot disarms it), and
	// leaves it when closed: MOD, else ADD, needs no flag of its own.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: fd}
	err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
	if err == unix.ENOENT {
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	}
	if err != nil {
		var none C
		p.parked[fd] = none
		return false
	}
	return true
}

// unpark hands c to a reader now if it is parked. A writer that has made
// c's parking report false calls it: under mu, either park saw that and
// did not park, or c is found here.
func (p *parker[C]) unpark(c C) {
	if p == nil {
		return
	}
	fd := c.parkFD()
	p.mu.Lock()
	parked := int(fd) < len(p.parked) && p.parked[fd] == c
	if parked {
		var none C
		p.parked[fd] = none
	}
	p.mu.Unlock()
	if parked {
		p.wake(c)
	}
}

// forget takes c out of the parker without handing it anywhere: its
// owner is about to close its socket, which must not happen while it is
// parked.
func (p *parker[C]) forget(c C) {
	if p == nil {
		return
	}
	fd := c.parkFD()
	p.mu.Lock()
	if int(fd) < len(p.parked) && p.parked[fd] == c {
		var none C
		p.parked[fd] = none
	}
	p.mu.Unlock()
}

// socketFD returns tcp's descriptor, which a parked connection keeps.
func socketFD(tcp *net.TCPConn) (int32, bool) {
	raw, err := tcp.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := -1
	if raw.Control(func(s uintptr) { fd = int(s) }) != nil || fd < 0 || fd > math.MaxInt32 {
		return 0, false
	}
	return int32(fd), true
}

// run hands readable connections to readers until close.
func (p *parker[C]) run() {
	var ready []C
	var none C
	for {
		if err := p.epRaw.Read(p.waitFn); err != nil {
			return // closed
		}
		p.mu.Lock()
		for _, ev := range p.events[:p.n] {
			if c := p.parked[ev.Fd]; c != none {
				p.parked[ev.Fd] = none
				ready = append(ready, c)
			}
		}
		p.mu.Unlock()
		for i, c := range ready {
			p.wake(c)
			ready[i] = none
		}
		ready = ready[:0]
	}
}

// poll takes the ready sockets without blocking; with none it returns
// false and Go's poller parks run until the epoll instance is readable.
func (p *parker[C]) poll(epfd uintptr) bool {
	n, err := unix.EpollWait(int(epfd), p.events, 0)
	p.n = max(n, 0)
	return n > 0 || err == unix.EINTR // try again rather than wait on an edge that came already
}

// close stops parking and returns the connections parked, whose readers
// the caller starts: they read on in goroutines until their sockets end.
func (p *parker[C]) close() []C {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.closed = true
	var parked []C
	var none C
	for fd, c := range p.parked {
		if c != none {
			parked = append(parked, c)
			p.parked[fd] = none
		}
	}
	p.mu.Unlock()
	_ = p.ep.Close() // wakes run
	return parked
}
