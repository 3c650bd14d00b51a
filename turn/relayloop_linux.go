//go:build linux && (amd64 || arm64)

package turn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchboard-rtc/switchboard/stun/udpbatch"
)

// Every system call here is non-blocking and short, so it is made raw:
// entering the scheduler's syscall state would let the runtime's monitor
// hand the processor to another thread whenever a loopback send takes a
// few tens of microseconds, and that hand-off (a futex wake, a context
// switch) costs more than the send. Profiled with perf under
// turnutils_uclient: the hand-offs and the monitor's 20 µs naps were a
// third of the relay's CPU.

// relayLoop reads every fast-path relay socket from one goroutine: one
// epoll_wait reports the sockets with datagrams, one recvmmsg per socket
// takes what is queued, and the ChannelData for clients leaves in one
// sendmmsg per server address. The loop's epoll instance is itself
// waited on through Go's poller, so an idle loop parks like any reader
// instead of holding a thread in a blocking system call (which makes the
// runtime hand the thread's processor off and back on every wakeup). The
// sockets stay registered with Go's poller too; only this loop reads
// them, through RawConn.Read, so a socket closing meanwhile cannot hand
// its descriptor number to another file.
type relayLoop struct {
	s      *Server
	ep     *os.File // the epoll instance
	epRaw  syscall.RawConn
	exited chan struct{}
	// closing is set by close(); stopped once run has returned, for
	// whatever reason.
	closing, stopped atomic.Bool

	mu     sync.RWMutex
	conns  map[uint32]*countingConn
	nextID uint32

	// The loop goroutine's own state.
	events  []unix.EpollEvent
	bufs    [][]byte // datagram at [channelDataHeader:], header written in front
	recv    []udpbatch.Mmsghdr
	names   []unix.RawSockaddrAny
	iovs    []unix.Iovec
	pending []outbound // datagrams read this round bound for clients
	sendState
	// For RawConn.Read: one closure, its arguments and results in fields.
	readFn      func(fd uintptr) bool
	readFrom    int
	readN       int
	readErrno   syscall.Errno
	waitFn      func(fd uintptr) bool
	waitN       int
	inPackets   int
	inBytes     int
	bwDropped   int
	queueDrops  int
	truncDrops  int
	unpermitted int
}

type outbound struct {
	slot int
	size int // header and data
	out  *sender
	to   *rawSockaddr
}

const (
	loopSlots = 64   // datagrams per round
	loopBuf   = 2048 // above pion's 1600-byte relay MTU
)

func newRelayLoop(s *Server) (*relayLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "relay-epoll")
	epRaw, err := ep.SyscallConn()
	if err != nil {
		_ = ep.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	l := &relayLoop{s: s, ep: ep, epRaw: epRaw, exited: make(chan struct{}),
		conns:  make(map[uint32]*countingConn),
		events: make([]unix.EpollEvent, 128), bufs: make([][]byte, loopSlots),
		recv: make([]udpbatch.Mmsghdr, loopSlots), names: make([]unix.RawSockaddrAny, loopSlots),
		iovs: make([]unix.Iovec, loopSlots), sendState: newSendState()}
	for i := range l.bufs {
		l.bufs[i] = make([]byte, loopBuf)
	}
	l.readFn = l.readBatch
	l.waitFn = l.pollEvents
	l.fn = l.sendBatch
	go l.run()
	return l, nil
}

// ctl changes the interest list; after close it does nothing, whatever
// has become of the descriptor number.
func (l *relayLoop) ctl(op int, fd uintptr, ev *unix.EpollEvent) error {
	var cerr error
	err := l.epRaw.Control(func(epfd uintptr) { cerr = unix.EpollCtl(int(epfd), op, int(fd), ev) })
	return errors.Join(err, cerr)
}

// add registers a relay socket with the loop.
func (l *relayLoop) add(c *countingConn) error {
	if l.stopped.Load() {
		return errLoopStopped
	}
	raw := c.self.raw
	l.mu.Lock()
	l.nextID++
	id := l.nextID
	l.conns[id] = c
	l.mu.Unlock()
	c.loopID = id
	var cerr error
	err := raw.Control(func(fd uintptr) {
		cerr = l.ctl(unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(id)})
	})
	if err = errors.Join(err, cerr); err != nil {
		l.remove(c)
		return fmt.Errorf("relay loop: %w", err)
	}
	return nil
}

// remove stops reading c; the socket closes after.
func (l *relayLoop) remove(c *countingConn) {
	l.mu.Lock()
	delete(l.conns, c.loopID)
	l.mu.Unlock()
	_ = c.self.raw.Control(func(fd uintptr) { _ = l.ctl(unix.EPOLL_CTL_DEL, fd, nil) })
}

// close stops the loop: closing the epoll file wakes its wait.
func (l *relayLoop) close() {
	l.closing.Store(true)
	_ = l.ep.Close()
	<-l.exited
}

func (l *relayLoop) run() {
	defer close(l.exited)
	defer l.stopped.Store(true) // add refuses: new relay sockets go to pion
	for {
		l.waitN = 0
		if err := l.epRaw.Read(l.waitFn); err != nil {
			if !l.closing.Load() {
				l.s.log.Error("relay loop stopped; new allocations are relayed by pion", "err", err)
			}
			return
		}
		used := 0
		for _, ev := range l.events[:l.waitN] {
			l.mu.RLock()
			c := l.conns[uint32(ev.Fd)]
			l.mu.RUnlock()
			if c == nil {
				continue
			}
			if used == loopSlots {
				l.flush()
				used = 0
			}
			used += l.drain(c, used)
		}
		l.flush()
	}
}

// pollEvents takes the ready sockets without blocking; with none it
// returns false and Go's poller parks the loop until the epoll instance
// is readable.
func (l *relayLoop) pollEvents(epfd uintptr) bool {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, epfd, uintptr(unsafe.Pointer(&l.events[0])),
		uintptr(len(l.events)), 0, 0, 0)
	if errno == unix.EINTR {
		return true // try again rather than park on an edge that came already
	}
	if errno != 0 || n == 0 {
		return false
	}
	l.waitN = int(n)
	return true
}

// drain reads what c has queued into the free slots from first on and
// routes it; it returns the slots it filled.
func (l *relayLoop) drain(c *countingConn, first int) int {
	for i := first; i < loopSlots; i++ {
		h := &l.recv[i].Hdr
		l.iovs[i].Base = &l.bufs[i][channelDataHeader]
		l.iovs[i].SetLen(loopBuf - channelDataHeader)
		h.Iov = &l.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&l.names[i]))
		h.Namelen = unix.SizeofSockaddrAny
		h.Flags = 0
	}
	l.readFrom, l.readN, l.readErrno = first, 0, 0
	if err := c.self.raw.Read(l.readFn); err != nil || l.readN <= 0 {
		return 0 // closed, or nothing after all (EAGAIN)
	}
	routes := c.routes()
	for i := first; i < first+l.readN; i++ {
		size := int(l.recv[i].Len)
		if l.recv[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
			l.truncDrops++
			continue
		}
		from := udpbatch.Decode(&l.names[i])
		route, ok := routes[from]
		// A datagram from an address without a permission is dropped
		// here, as pion would drop it, before it spends the bandwidth
		// budgets: spraying a relay port must not starve real media.
		if !ok && !c.permits(from.Addr()) {
			l.unpermitted++
			continue
		}
		if !l.s.bandwidthAllows(c.in, l.s.capacityIn, size) {
			l.bwDropped++
			continue
		}
		l.inPackets++
		l.inBytes += size
		if !ok {
			l.toPion(c, l.bufs[i][channelDataHeader:channelDataHeader+size], from)
			continue
		}
		buf := l.bufs[i]
		binary.BigEndian.PutUint16(buf[0:2], route.key.number)
		binary.BigEndian.PutUint16(buf[2:4], uint16(size))
		l.pending = append(l.pending, outbound{slot: i, size: channelDataHeader + size, out: route.out, to: route.to})
	}
	return l.readN
}

func (l *relayLoop) readBatch(fd uintptr) bool {
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&l.recv[l.readFrom])),
		uintptr(loopSlots-l.readFrom), unix.MSG_DONTWAIT, 0, 0)
	l.readN, l.readErrno = int(n), errno
	if errno != 0 {
		l.readN = 0
	}
	return true // never park: epoll said it was readable, and EAGAIN means another round
}

// toPion queues a datagram for pion's reader of c (a Data indication, or
// a peer without a channel).
func (l *relayLoop) toPion(c *countingConn, data []byte, from netip.AddrPort) {
	select {
	case c.slow <- slowPacket{data: append([]byte(nil), data...), from: net.UDPAddrFromAddrPort(from)}:
	default:
		l.queueDrops++
	}
}
