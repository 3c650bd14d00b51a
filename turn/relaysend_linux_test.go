//go:build linux && (amd64 || arm64)

package turn

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// burstSizes is a peer's burst: runs of one size, a shorter datagram that
// ends a run, a longer one that starts the next, and datagrams too large
// to be segmented.
var burstSizes = func() []int {
	var sizes []int
	for range 40 {
		sizes = append(sizes, 100)
	}
	sizes = append(sizes, 60)
	for range 10 {
		sizes = append(sizes, 120)
	}
	sizes = append(sizes, 1400, 1400, 30, 30, 30)
	return sizes
}()

func burstDatagram(i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i), byte(size)}, size/2+1)[:size]
	b[0] = byte(i)
	return b
}

// relayBurst holds the relay loops while the peer sends a burst, so the
// loop reads it in one recvmmsg and sends it in one round, and checks the
// client gets every datagram, in order and intact.
func relayBurst(t *testing.T, r *testRelay, relayConn, peer net.PacketConn) {
	t.Helper()
	for _, l := range r.srv.fast.loops {
		l.mu.Lock()
	}
	for i, size := range burstSizes {
		if _, err := peer.WriteTo(burstDatagram(i, size), relayConn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range r.srv.fast.loops {
		l.mu.Unlock()
	}
	buf := make([]byte, 2048)
	for i, size := range burstSizes {
		_ = relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := relayConn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, len(burstSizes), err)
		}
		if want := burstDatagram(i, size); !bytes.Equal(buf[:n], want) {
			t.Fatalf("datagram %d: got %d bytes starting %x, want %d starting %x", i, n, buf[:min(n, 4)], size, want[:4])
		}
	}
}

func serverSender(t *testing.T, r *testRelay) *sender {
	t.Helper()
	for _, socks := range r.srv.fast.senders {
		return socks[0]
	}
	t.Fatal("no server socket")
	return nil
}

func TestSegmentedSendsDeliverEveryDatagram(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.AllowLoopbackPeers = true })
	out := serverSender(t, r)
	if !out.gso.Load() {
		t.Fatal("the kernel refuses UDP_SEGMENT (Linux 4.18 has it)")
	}
	peer := listenInRange(t, 40000, 60000)
	defer peer.Close()
	relayBurst(t, r, fastRelay(t, r, peer), peer)
	// 40 + the shorter 60, 10, and 3: the 1400-byte ones go alone.
	waitUntil(t, func() bool { return r.srv.fast.segmented.Load() == 54 }, "54 datagrams sent segmented")
	families, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == "switchboard_turn_relayed_segmented_packets_total" {
			if got := mf.GetMetric()[0].GetCounter().GetValue(); got != 54 {
				t.Fatalf("segmented counter says %v, want 54", got)
			}
			return
		}
	}
	t.Fatal("no switchboard_turn_relayed_segmented_packets_total metric")
}

// TestSegmentationRefused: a socket the kernel will not segment on (here
// one with UDP checksums off, SO_NO_CHECK) gets every datagram through
// one by one, and stops trying.
func TestSegmentationRefused(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.AllowLoopbackPeers = true })
	raw, err := r.srv.cfg.UDP[0].(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	peer := listenInRange(t, 40000, 60000)
	defer peer.Close()
	relayBurst(t, r, fastRelay(t, r, peer), peer)
	if serverSender(t, r).gso.Load() {
		t.Fatal("segmentation still on after the kernel refused it")
	}
	if n := r.srv.fast.segmented.Load(); n != 0 {
		t.Fatalf("%d datagrams counted as segmented", n)
	}
}

// TestWithoutSegmentation: where the kernel has no UDP_SEGMENT, runs
// leave one datagram per message.
func TestWithoutSegmentation(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.AllowLoopbackPeers = true })
	serverSender(t, r).gso.Store(false)
	peer := listenInRange(t, 40000, 60000)
	defer peer.Close()
	relayBurst(t, r, fastRelay(t, r, peer), peer)
	if n := r.srv.fast.segmented.Load(); n != 0 {
		t.Fatalf("%d datagrams counted as segmented", n)
	}
}

// forwardBurst hands the burst, as the client's ChannelData on the bound
// channel, to a forwarder of the server socket in one batch, and checks
// the peer gets every datagram, in order and intact.
func forwardBurst(t *testing.T, r *testRelay, peer net.PacketConn, tweak func(*countingConn)) {
	t.Helper()
	f := r.srv.fast
	f.mu.RLock()
	if len(f.channels) != 1 {
		t.Fatalf("%d channels, want 1", len(f.channels))
	}
	var key channelKey
	var route channelRoute
	for key, route = range f.channels {
	}
	f.mu.RUnlock()
	if tweak != nil {
		tweak(route.relay)
	}
	w := f.newForwarder(key.local)
	from := net.UDPAddrFromAddrPort(key.client)
	for i, size := range burstSizes {
		pkt := make([]byte, channelDataHeader+size)
		binary.BigEndian.PutUint16(pkt, key.number)
		binary.BigEndian.PutUint16(pkt[2:], uint16(size))
		copy(pkt[channelDataHeader:], burstDatagram(i, size))
		if !w.take(pkt, from) {
			t.Fatalf("datagram %d not taken", i)
		}
	}
	w.release()
	buf := make([]byte, 2048)
	for i, size := range burstSizes {
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := peer.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, len(burstSizes), err)
		}
		if want := burstDatagram(i, size); !bytes.Equal(buf[:n], want) {
			t.Fatalf("datagram %d: got %d bytes starting %x, want %d starting %x", i, n, buf[:min(n, 4)], size, want[:4])
		}
	}
}

func TestForwardedRunsDeliverEveryDatagram(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.AllowLoopbackPeers = true })
	peer := listenInRange(t, 40000, 60000)
	defer peer.Close()
	fastRelay(t, r, peer)
	before := r.srv.fast.segmented.Load()
	forwardBurst(t, r, peer, nil)
	if n := r.srv.fast.segmented.Load() - before; n != 54 {
		t.Fatalf("%d datagrams sent segmented, want 54", n)
	}
}

func TestForwardedRunsRefused(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.AllowLoopbackPeers = true })
	peer := listenInRange(t, 40000, 60000)
	defer peer.Close()
	fastRelay(t, r, peer)
	var relay *countingConn
	forwardBurst(t, r, peer, func(c *countingConn) {
		relay = c
		var serr error
		if err := c.self.raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1) }); err != nil || serr != nil {
			t.Fatal(err, serr)
		}
	})
	if relay.self.gso.Load() {
		t.Fatal("segmentation still on after the kernel refused it")
	}
	if n := r.srv.fast.segmented.Load(); n != 0 {
		t.Fatalf("%d datagrams counted as segmented", n)
	}
}
