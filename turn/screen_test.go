package turn

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func stunPacket(t *testing.T, typ stun.MessageType, attrs ...stun.Setter) []byte {
	t.Helper()
	m, err := stun.Build(append([]stun.Setter{stun.TransactionID, typ}, attrs...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func TestUsable(t *testing.T) {
	channelData := func(declared, actual int) []byte {
		p := make([]byte, 4+actual)
		binary.BigEndian.PutUint16(p, 0x4001)
		binary.BigEndian.PutUint16(p[2:], uint16(declared))
		return p
	}
	request := stunPacket(t, stun.NewType(stun.MethodAllocate, stun.ClassRequest), stun.NewUsername("u"))
	send := stunPacket(t, stun.NewType(stun.MethodSend, stun.ClassIndication), stun.NewSoftware("x"))
	badTLV := append([]byte(nil), request...)
	binary.BigEndian.PutUint16(badTLV[stunHeaderLen+2:], 200) // an attribute longer than the message
	noCookie := append([]byte(nil), request...)
	noCookie[4] ^= 0xFF
	for _, tc := range []struct {
		name      string
		pkt       []byte
		allocated bool
		want      bool
	}{
		{"request", request, false, true},
		{"request, no cookie", noCookie, false, false},
		{"request, attribute past the end", badTLV, false, false},
		{"request, truncated", request[:len(request)-4], false, false},
		{"indication with an allocation", send, true, true},
		{"indication without", send, false, false},
		{"response", stunPacket(t, stun.BindingSuccess), true, false},
		{"channel data with an allocation", channelData(100, 100), true, true},
		{"channel data padded", channelData(99, 100), true, true},
		{"channel data without", channelData(100, 100), false, false},
		{"channel data short", channelData(101, 100), true, false},
		{"junk 0x80", append([]byte{0x80}, make([]byte, 60)...), true, false},
		{"junk 0xC0", append([]byte{0xC0}, make([]byte, 60)...), true, false},
		{"tiny", []byte{0x40, 0}, true, false},
	} {
		if got := usable(tc.pkt, func() bool { return tc.allocated }); got != tc.want {
			t.Errorf("%s: usable %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestJunkDroppedAtTheSocket: junk on the client port is dropped where it
// is read and counted, never handed to pion; a client with an allocation
// relays as before, and Binding is answered.
func TestJunkDroppedAtTheSocket(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.AllowLoopbackPeers = true })
	junkConn, err := net.Dial("udp4", r.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer junkConn.Close()
	cd := make([]byte, 40)
	binary.BigEndian.PutUint16(cd, 0x4001)
	binary.BigEndian.PutUint16(cd[2:], 36)
	kinds := [][]byte{
		append([]byte{0x99}, make([]byte, 50)...), // neither STUN nor ChannelData
		cd, // ChannelData without an allocation
		stunPacket(t, stun.NewType(stun.MethodSend, stun.ClassIndication)),             // indication without an allocation
		stunPacket(t, stun.BindingSuccess),                                             // a response
		append(stunPacket(t, stun.NewType(stun.MethodAllocate, stun.ClassRequest)), 1), // length does not match
	}
	const rounds = 20
	for range rounds {
		for _, k := range kinds {
			if _, err := junkConn.Write(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := float64(rounds * len(kinds))
	waitUntil(t, func() bool { return testutil.ToFloat64(r.srv.metrics.droppedJunk) >= want }, "junk counted")
	if got := testutil.ToFloat64(r.srv.metrics.droppedJunk); got != want {
		t.Fatalf("%v junk datagrams dropped, want %v", got, want)
	}

	// A real client still allocates and relays both ways.
	user, pass, _ := r.srv.Credentials("screened")
	relayConn, err := r.newClient(t, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	buf := make([]byte, 100)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	_ = relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 5 { // a Send indication first, ChannelData once pion has bound a channel
		if _, err := relayConn.WriteTo([]byte{byte(i)}, peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := peer.ReadFrom(buf); err != nil {
			t.Fatalf("datagram %d did not reach the peer: %v", i, err)
		}
		if _, err := peer.WriteTo([]byte{byte(i)}, relayConn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := relayConn.ReadFrom(buf); err != nil {
			t.Fatalf("datagram %d did not come back: %v", i, err)
		}
	}
	if got := testutil.ToFloat64(r.srv.metrics.droppedJunk); got != want {
		t.Fatalf("a real client's datagrams were taken for junk: %v dropped", got-want)
	}
	c, err := net.Dial("udp4", r.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	udpBinding(t, c)
}

// udpBinding checks that a Binding request on c is answered.
func udpBinding(t *testing.T, c net.Conn) {
	t.Helper()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := c.Write(req.Raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no Binding answer: %v", err)
	}
	resp := &stun.Message{Raw: buf[:n]}
	if resp.Decode() != nil || resp.Type != stun.BindingSuccess {
		t.Fatal("not a Binding success")
	}
}
