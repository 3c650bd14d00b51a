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
type parker struct {
	ep    *os.File
	epfd  int // ep's, for EpollCtl
	epRaw syscall.RawConn
	wake  func(*wsConn) // starts a reader

	mu     sync.Mutex
	parked []*wsConn // by descriptor number
	closed bool

	// The run goroutine's own.
	events []unix.EpollEvent
	n      int
	waitFn func(uintptr) bool
}

func newParker(wake func(*wsConn)) (*parker, error) {
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
	p := &parker{ep: ep, epfd: epfd, epRaw: epRaw, wake: wake, events: make([]unix.EpollEvent, 256)}
	p.waitFn = p.poll
	return p, nil
}

// park arms c's socket and reports true, or false when bytes are already
// waiting or the parker has closed: the caller then reads on. c's reader
// must not touch it after a true.
func (p *parker) park(c *wsConn) bool {
	if p == nil {
		return false
	}
	// c.fd is used without the poller's reference (RawConn.Control, whose
	// closure cost an allocation per park, the idle connection's garbage):
	// c's reader calls park, and only the reader closes the socket.
	waiting, err := unix.IoctlGetInt(int(c.fd), unix.SIOCINQ)
	if err != nil || waiting > 0 {
		return false
	}
	// Level-triggered: bytes that come between the check and the arming
	// still wake it.
	c.returnReadBuffer()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || c.closeSent.Load() { // see unpark
		return false
	}
	for int(c.fd) >= len(p.parked) {
		p.parked = append(p.parked, nil)
	}
	p.parked[c.fd] = c
	op := unix.EPOLL_CTL_MOD
	if !c.inEpoll {
		op = unix.EPOLL_CTL_ADD
	}
	// The epoll descriptor is open while p.closed is false, under p.mu.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: c.fd}
	if err := unix.EpollCtl(p.epfd, op, int(c.fd), &ev); err != nil {
		p.parked[c.fd] = nil
		return false
	}
	c.inEpoll = true
	return true
}

// unpark hands c to a reader now if it is parked. A writer that has set
// c.closeSent calls it: under mu, either park saw closeSent and did not
// park, or c is found here.
func (p *parker) unpark(c *wsConn) {
	if p == nil {
		return
	}
	p.mu.Lock()
	parked := int(c.fd) < len(p.parked) && p.parked[c.fd] == c
	if parked {
		p.parked[c.fd] = nil
	}
	p.mu.Unlock()
	if parked {
		p.wake(c)
	}
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
func (p *parker) run() {
	var ready []*wsConn
	for {
		if err := p.epRaw.Read(p.waitFn); err != nil {
			return // closed
		}
		p.mu.Lock()
		for _, ev := range p.events[:p.n] {
			if c := p.parked[ev.Fd]; c != nil {
				p.parked[ev.Fd] = nil
				ready = append(ready, c)
			}
		}
		p.mu.Unlock()
		for i, c := range ready {
			p.wake(c)
			ready[i] = nil
		}
		ready = ready[:0]
	}
}

// poll takes the ready sockets without blocking; with none it returns
// false and Go's poller parks run until the epoll instance is readable.
func (p *parker) poll(epfd uintptr) bool {
	n, err := unix.EpollWait(int(epfd), p.events, 0)
	p.n = max(n, 0)
	return n > 0 || err == unix.EINTR // try again rather than wait on an edge that came already
}

// close stops parking and returns the connections parked, whose readers
// the caller starts: they read on in goroutines until their sockets end.
func (p *parker) close() []*wsConn {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.closed = true
	var parked []*wsConn
	for fd, c := range p.parked {
		if c != nil {
			parked = append(parked, c)
			p.parked[fd] = nil
		}
	}
	p.mu.Unlock()
	_ = p.ep.Close() // wakes run
	return parked
}
