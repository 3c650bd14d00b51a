package turn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
)

// ListenUDP binds n UDP sockets to one address with SO_REUSEPORT, so the
// kernel spreads clients over n independent readers (a client's 5-tuple
// always lands on the same socket, which keeps its allocation on one
// reader). Each socket asks for buffer bytes of receive and send buffer;
// when the kernel grants less (net.core.rmem_max), it is logged. With
// port 0 the first socket picks the port and the rest join it.
func ListenUDP(network, addr string, n, buffer int, log *slog.Logger) ([]net.PacketConn, error) {
	if n < 1 {
		n = 1
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = setReusePort(fd) })
		return errors.Join(err, serr)
	}}
	var conns []net.PacketConn
	closeAll := func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
	for i := range n {
		pc, err := lc.ListenPacket(context.Background(), network, addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("udp socket %d of %d on %s: %w", i+1, n, addr, err)
		}
		conns = append(conns, pc)
		if i == 0 {
			addr = pc.LocalAddr().String()
		}
		if buffer > 0 {
			if err := setBuffers(pc, buffer, log, i == 0); err != nil {
				closeAll()
				return nil, err
			}
		}
	}
	return conns, nil
}

func setBuffers(pc net.PacketConn, want int, log *slog.Logger, report bool) error {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	if err := uc.SetReadBuffer(want); err != nil {
		return fmt.Errorf("SO_RCVBUF: %w", err)
	}
	if err := uc.SetWriteBuffer(want); err != nil {
		return fmt.Errorf("SO_SNDBUF: %w", err)
	}
	rcv, snd, err := socketBuffers(uc)
	if err == nil && report && (rcv < want || snd < want) {
		log.Warn("kernel capped UDP socket buffers; raise net.core.rmem_max / wmem_max",
			"addr", pc.LocalAddr().String(), "requested", want, "receive", rcv, "send", snd)
	}
	return nil
}
