package turn

import (
	"bytes"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fastRelay allocates over UDP with pion's client and returns the relay
// connection once a channel to peer is bound, so both directions can take
// the fast path.
func fastRelay(t *testing.T, r *testRelay, peer net.PacketConn) net.PacketConn {
	t.Helper()
	if r.srv.fast == nil {
		t.Fatal("fast path off on Linux")
	}
	user, pass, _ := r.srv.Credentials("fast")
	relayConn, err := r.newClient(t, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relayConn.Close() })
	// pion's client sends its first datagrams as Send indications and binds
	// a channel meanwhile: keep sending until one crosses as ChannelData.
	buf := make([]byte, 1500)
	deadline := time.Now().Add(5 * time.Second)
	for r.srv.fast.toPeers.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no ChannelData took the fast path")
		}
		if _, err := relayConn.WriteTo([]byte("bind"), peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		_ = peer.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := peer.ReadFrom(buf); err != nil {
			t.Fatalf("peer: %v", err)
		}
	}
	return relayConn
}

func TestFastPathRelaysBothWays(t *testing.T) {
	t.Run("ipv4 socket", func(t *testing.T) {
		testFastPath(t, startRelay(t, func(c *Config) { c.AllowLoopbackPeers = true }))
	})
	t.Run("dual-stack socket", func(t *testing.T) {
		// IPv4 clients reach a socket bound to [::] as IPv4-mapped
		// addresses; ChannelData must go back to them in that spelling.
		dual, err := net.ListenPacket("udp", "[::]:0")
		if err != nil {
			t.Fatal(err)
		}
		r := startRelay(t, func(c *Config) {
			_ = c.UDP[0].Close()
			c.UDP, c.AllowLoopbackPeers = []net.PacketConn{dual}, true
		})
		r.udp = net.JoinHostPort("127.0.0.1", strconv.Itoa(dual.LocalAddr().(*net.UDPAddr).Port))
		testFastPath(t, r)
	})
}

func testFastPath(t *testing.T, r *testRelay) {
	peer := listenInRange(t, 40000, 60000)
	defer peer.Close()
	relayConn := fastRelay(t, r, peer)
	relayAddr := relayConn.LocalAddr()
	f := r.srv.fast
	buf := make([]byte, 1500)
	const rounds = 200
	for i := range rounds {
		msg := []byte{byte(i), 1, 2, 3, 4, 5, 6} // 7 bytes: no padding over UDP
		if _, err := relayConn.WriteTo(msg, peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := peer.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) || from.String() != relayAddr.String() {
			t.Fatalf("round %d: peer got %x from %v (%v), want %x from %v", i, buf[:n], from, err, msg, relayAddr)
		}
		if _, err := peer.WriteTo(msg[:n-i%3], from); err != nil {
			t.Fatal(err)
		}
		_ = relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err = relayConn.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], msg[:7-i%3]) || from.String() != peer.LocalAddr().String() {
			t.Fatalf("round %d: client got %x from %v (%v)", i, buf[:n], from, err)
		}
	}
	// The loop counts after sendmmsg returns, which may be after the
	// client has read the datagram.
	waitUntil(t, func() bool { return f.toPeers.Load() >= rounds && f.toClients.Load() >= rounds },
		"every round on the fast path both ways")

	// A second peer on the same address has a permission but no channel:
	// its datagram reaches the client through pion as a Data indication.
	other := listenInRange(t, 40000, 60000)
	defer other.Close()
	before := f.toClients.Load() // settled: the client has read every echo and the loop counted it
	if _, err := other.WriteTo([]byte("via pion"), relayAddr); err != nil {
		t.Fatal(err)
	}
	_ = relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := relayConn.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "via pion" || from.String() != other.LocalAddr().String() {
		t.Fatalf("client got %q from %v (%v)", buf[:n], from, err)
	}
	if f.toClients.Load() != before {
		t.Fatal("a peer without a channel took the fast path")
	}

	// Releasing the allocation forgets its relay socket and channels.
	_ = relayConn.Close()
	waitUntil(t, func() bool {
		f.mu.RLock()
		defer f.mu.RUnlock()
		return len(f.channels) == 0 && len(f.relays) == 0
	}, "fast path forgets the allocation")
}

// TestFastPathKeepsPolicy: a channel to the relay's own address reaches
// only live relay ports, on the fast path as on pion's.
func TestFastPathKeepsPolicy(t *testing.T) {
	r := startRelay(t, nil) // loopback peers not allowed; 127.0.0.1 is the relay's own address
	peer := listenInRange(t, 40000, 60000)
	defer peer.Close()
	user, pass, _ := r.srv.Credentials("policy")
	relayConn, err := r.newClient(t, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	// The peer's port is no allocation's: every datagram is dropped,
	// whichever path carries it. Send until one has crossed as ChannelData
	// (pion's client binds the channel in the background), 10 ms apart.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; r.srv.fast.toPeers.Load() == 0; i++ {
		if i == 500 {
			t.Fatal("no ChannelData took the fast path in 5 s")
		}
		if _, err := relayConn.WriteTo([]byte("x"), peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		<-tick.C
	}
	_ = peer.SetReadDeadline(time.Now())
	if n, _, err := peer.ReadFrom(make([]byte, 10)); err == nil {
		t.Fatalf("a socket that is no relay port got %d bytes", n)
	}
	if got := testutil.ToFloat64(r.srv.metrics.relayedOutPackets); got != 0 {
		t.Fatalf("%v datagrams relayed to a non-relay port", got)
	}
}

// TestFastPathDropsStrangersBeforeTheBudget: datagrams sprayed at a relay
// port from an address without a permission are dropped before they
// spend the server's bandwidth, so the peer's media still gets through.
func TestFastPathDropsStrangersBeforeTheBudget(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.AllowLoopbackPeers, c.BPSCapacity = true, 70000 })
	peer := listenInRange(t, 40000, 60000)
	defer peer.Close()
	relayConn := fastRelay(t, r, peer)
	// 127.0.0.2 is loopback too, but the allocation permits 127.0.0.1 only.
	stranger, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	spray := make([]byte, 1000)
	const sprayed = 200 // three times the server's second of budget and burst
	m := r.srv.metrics
	for burst := 1; burst <= sprayed/20; burst++ { // in bursts the socket buffer holds
		for range 20 {
			if _, err := stranger.WriteTo(spray, relayConn.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		waitUntil(t, func() bool { return testutil.ToFloat64(m.droppedNoPermission) == float64(20*burst) }, "the spray dropped as unpermitted")
	}
	if _, err := peer.WriteTo([]byte("media"), relayConn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := relayConn.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "media" {
		t.Fatalf("client got %q (%v) after the spray", buf[:n], err)
	}
	if got := testutil.ToFloat64(m.droppedBandwidth); got != 0 {
		t.Fatalf("the spray spent the budget: %v datagrams dropped for bandwidth", got)
	}
}

// TestRelayWithoutTheLoop: when the relay loops have stopped, new
// allocations are read by pion and still relay both ways.
func TestRelayWithoutTheLoop(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.AllowLoopbackPeers = true })
	for _, l := range r.srv.fast.loops {
		l.close()
	}
	user, pass, _ := r.srv.Credentials("no-loop")
	relayConn, err := r.newClient(t, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	peer := listenInRange(t, 40000, 60000)
	defer peer.Close()
	buf := make([]byte, 1500)
	for i := range 20 { // past pion's client binding its channel
		if _, err := relayConn.WriteTo([]byte{byte(i)}, peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := peer.ReadFrom(buf)
		if err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("round %d: peer got %x (%v)", i, buf[:n], err)
		}
		if _, err := peer.WriteTo(buf[:1], from); err != nil {
			t.Fatal(err)
		}
		_ = relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, _, err := relayConn.ReadFrom(buf); err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("round %d: client got %x (%v)", i, buf[:n], err)
		}
	}
	if r.srv.fast.toClients.Load() != 0 {
		t.Fatal("a stopped loop relayed")
	}
}
