package turn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestNonceBoundToClientAddress: a NONCE fetched on one socket is stale on
// any other (coturn answers 438 too); on its own socket it works.
func TestNonceBoundToClientAddress(t *testing.T) {
	r := startRelay(t, nil)
	user, pass, _ := r.srv.Credentials("s")
	a := newRawClient(t, r.udp, user, pass)
	a.learn(a.roundTrip(a.build(stun.MethodAllocate, false, requestedUDP)))
	if a.nonce == "" || a.realm != "switchboard" {
		t.Fatalf("401 carried nonce %q realm %q", a.nonce, a.realm)
	}
	b := newRawClient(t, r.udp, user, pass)
	b.nonce, b.realm = a.nonce, a.realm
	resp := b.roundTrip(b.build(stun.MethodAllocate, true, requestedUDP))
	if code := errorCode(resp); code != 438 {
		t.Fatalf("nonce replayed from another address: code %d, want 438", code)
	}
	b.learn(resp)
	if code, _ := b.request(stun.MethodAllocate, requestedUDP); code != 0 {
		t.Fatalf("with its own fresh nonce: code %d", code)
	}
	if code, _ := a.request(stun.MethodAllocate, requestedUDP); code != 0 {
		t.Fatalf("on its own address: code %d", code)
	}
	if got := testutil.ToFloat64(r.srv.metrics.authVec.WithLabelValues(authStaleNonce)); got != 1 {
		t.Errorf("stale_nonce count %v", got)
	}
}

func TestNonceExpiryAndBinding(t *testing.T) {
	n := newNonceMinter(10 * time.Minute)
	now := time.Unix(1_800_000_000, 0)
	nonce := n.mint("udp 1.2.3.4:5", now)
	cases := []struct {
		name      string
		nonce     string
		transport string
		at        time.Time
		ok        bool
	}{
		{"fresh", nonce, "udp 1.2.3.4:5", now, true},
		{"near expiry", nonce, "udp 1.2.3.4:5", now.Add(10*time.Minute - time.Second), true},
		{"expired", nonce, "udp 1.2.3.4:5", now.Add(10*time.Minute + time.Second), false},
		{"other port", nonce, "udp 1.2.3.4:6", now, false},
		{"other transport", nonce, "tcp 1.2.3.4:5", now, false},
		{"tampered", nonce[:len(nonce)-1] + "0", "udp 1.2.3.4:5", now, nonce[len(nonce)-1] == '0'},
		{"short", nonce[:8], "udp 1.2.3.4:5", now, false},
		{"not hex", strings.Repeat("z", len(nonce)), "udp 1.2.3.4:5", now, false},
	}
	for _, tc := range cases {
		if got := n.valid(tc.nonce, tc.transport, tc.at); got != tc.ok {
			t.Errorf("%s: valid=%v, want %v", tc.name, got, tc.ok)
		}
	}
	// Another process (another key) does not accept it.
	if newNonceMinter(10*time.Minute).valid(nonce, "udp 1.2.3.4:5", now) {
		t.Error("nonce valid under another key")
	}
}

// TestRefusedPeerIs403: CreatePermission and ChannelBind towards a denied
// peer are answered 403 (RFC 8656); pion alone sends 401 for ChannelBind
// and an error without a code for CreatePermission.
func TestRefusedPeerIs403(t *testing.T) {
	r := startRelay(t, nil)
	user, pass, _ := r.srv.Credentials("s")
	c := newRawClient(t, r.udp, user, pass)
	if code, _ := c.request(stun.MethodAllocate, requestedUDP); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	for _, peer := range []string{"10.0.0.1", "::ffff:10.0.0.1", "127.0.0.2"} {
		if code, _ := c.request(stun.MethodChannelBind, channelNumber(0x4000), peerAttr(peer, 9)); code != 403 {
			t.Errorf("ChannelBind to %s: code %d, want 403", peer, code)
		}
		if code, _ := c.request(stun.MethodCreatePermission, peerAttr(peer, 9)); code != 403 {
			t.Errorf("CreatePermission to %s: code %d, want 403", peer, code)
		}
	}
	if code, _ := c.request(stun.MethodChannelBind, channelNumber(0x4000), peerAttr("203.0.113.7", 9)); code != 0 {
		t.Errorf("ChannelBind to a public peer: code %d", code)
	}
	if code, _ := c.request(stun.MethodCreatePermission, peerAttr("203.0.113.8", 9), peerAttr("10.0.0.1", 9)); code != 403 {
		t.Errorf("CreatePermission with one denied peer of two: code %d, want 403", code)
	}
}

// TestAuthAnswersRateLimited: one source draws at most AuthBurst 401s; the
// rest go unanswered, so the relay cannot be aimed at a spoofed address.
func TestAuthAnswersRateLimited(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.AuthRate, c.AuthBurst = 0.001, 5 })
	c := newRawClient(t, r.udp, "", "")
	for range 20 {
		if _, err := c.conn.WriteTo(c.build(stun.MethodAllocate, false, requestedUDP).Raw, c.server); err != nil {
			t.Fatal(err)
		}
	}
	// A Binding answer comes after every answer to what was sent before it.
	marker := c.build(stun.MethodBinding, false)
	if _, err := c.conn.WriteTo(marker.Raw, c.server); err != nil {
		t.Fatal(err)
	}
	got := 0
	buf := make([]byte, 1500)
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d answers: %v", got, err)
		}
		m := &stun.Message{Raw: buf[:n]}
		if m.Decode() == nil && m.TransactionID == marker.TransactionID {
			break
		}
		got++
	}
	if got != 5 {
		t.Fatalf("%d answers to 20 unauthenticated requests, want 5", got)
	}
	if d := testutil.ToFloat64(r.srv.metrics.droppedAuthRate); d != 15 {
		t.Errorf("dropped count %v, want 15", d)
	}
	// Another source still gets its challenge.
	other := newRawClientFrom(t, "127.0.0.2", r.udp, "", "")
	if code := errorCode(other.roundTrip(other.build(stun.MethodAllocate, false, requestedUDP))); code != 401 {
		t.Errorf("other source: code %d", code)
	}
}

// TestOwnRelayReachesOnlyLiveAllocations: towards its own address the
// relay reaches the relay ports of its live allocations, not an ordinary
// socket that happens to sit in the relay range (Linux's ephemeral range
// overlaps it).
func TestOwnRelayReachesOnlyLiveAllocations(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.RelayPortMin, c.RelayPortMax = 45000, 45200 })
	user, pass, _ := r.srv.Credentials("s")
	a, err := r.newClient(t, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := r.newClient(t, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bystander := listenInRange(t, 45000, 45200)
	defer bystander.Close()

	// b lets a in; what b sends is dropped at a, which has no permission.
	if _, err := b.WriteTo([]byte("hello"), a.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteTo([]byte("to bystander"), bystander.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteTo([]byte("to b"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := b.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "to b" {
		t.Fatalf("allocation b read %q, %v", buf[:n], err)
	}
	// pion relays a's datagrams in order on one goroutine: the one to the
	// bystander was dealt with before b's arrived.
	_ = bystander.SetReadDeadline(time.Now())
	if n, _, err := bystander.ReadFrom(buf); err == nil {
		t.Fatalf("bystander socket received %q", buf[:n])
	}
	if got := testutil.ToFloat64(r.srv.metrics.deniedPeers); got < 1 {
		t.Errorf("denied peers %v", got)
	}
}

func TestTCPIdleAndStalledConnectionsClosed(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.TCPIdleTimeout = 200 * time.Millisecond })
	for name, send := range map[string][]byte{
		"never speaks":      nil,
		"stops mid-header":  {0x00, 0x03},
		"stops mid-message": append(bytes.Repeat([]byte{0}, 1), 0x03, 0x00, 0x08, 0x21, 0x12),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp4", r.tcp)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			if _, err := c.Write(send); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1))
			if !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("read %v, want the server to close", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("closed after %v", d)
			}
		})
	}
	if got := testutil.ToFloat64(r.srv.metrics.timedOutConns); got != 3 {
		t.Errorf("timed out connections %v, want 3", got)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestTCPConnectionsCappedPerAddress also shows STUN Binding answered over
// TCP.
func TestTCPConnectionsCappedPerAddress(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.MaxConnsPerIP = 2 })
	var kept []net.Conn
	for range 2 {
		c, err := net.Dial("tcp4", r.tcp)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		kept = append(kept, c)
	}
	// The server accepts in order: make sure both are counted first.
	for _, c := range kept {
		tcpBinding(t, c)
	}
	extra, err := net.Dial("tcp4", r.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("third connection: read %v, want closed", err)
	}
	for _, c := range kept {
		tcpBinding(t, c)
	}
	if got := testutil.ToFloat64(r.srv.metrics.refusedConns); got != 1 {
		t.Errorf("refused %v", got)
	}
	// A closed connection frees its slot.
	kept[0].Close()
	waitUntil(t, func() bool {
		c, err := net.Dial("tcp4", r.tcp)
		if err != nil {
			return false
		}
		defer c.Close()
		return tryTCPBinding(c)
	}, "slot freed")
}

func tcpBinding(t *testing.T, c net.Conn) {
	t.Helper()
	if !tryTCPBinding(c) {
		t.Fatal("no Binding answer over TCP")
	}
}

func tryTCPBinding(c net.Conn) bool {
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := c.Write(req.Raw); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	n, err := io.ReadAtLeast(c, buf, 20)
	if err != nil {
		return false
	}
	resp := &stun.Message{Raw: buf[:n]}
	var xor stun.XORMappedAddress
	return resp.Decode() == nil && resp.Type == stun.BindingSuccess && xor.GetFrom(resp) == nil &&
		xor.Port == c.LocalAddr().(*net.TCPAddr).Port
}

// TestStalePionNonceRenewed: when the pion nonce the gate holds is too old
// to hand on, the gate feeds pion a synthetic request for a fresh one and
// the client's request goes through as if nothing happened, over UDP and
// TCP.
func TestStalePionNonceRenewed(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			r := startRelay(t, nil)
			user, pass, _ := r.srv.Credentials("s")
			client := r.newClient(t, network, user, pass)
			relay, err := client.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			old := r.srv.gate.pion.Load()
			r.srv.gate.pion.Store(&pionNonce{value: old.value, seen: time.Now().Add(-2 * pionNonceFresh)})
			// CreatePermission is authenticated: it needs a pion nonce.
			if _, err := relay.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 9}); err != nil {
				t.Fatalf("permission after the pion nonce aged: %v", err)
			}
			if p := r.srv.gate.pion.Load(); time.Since(p.seen) > time.Minute {
				t.Fatalf("pion nonce not renewed: seen %v", p.seen)
			}
		})
	}
}

// TestReflectionRatio measures what an unauthenticated request draws: the
// figures docs/turn.md quotes. A spoofed source gets at most AuthBurst of
// these, then AuthRate per second.
func TestReflectionRatio(t *testing.T) {
	r := startRelay(t, nil)
	c := newRawClient(t, r.udp, "", "")
	for _, tc := range []struct {
		name string
		req  *stun.Message
		max  float64
	}{
		{"bare Allocate header", c.build(stun.MethodAllocate, false), 5},
		{"Allocate with REQUESTED-TRANSPORT", c.build(stun.MethodAllocate, false, requestedUDP), 3.5},
		{"Binding", c.build(stun.MethodBinding, false), 3},
	} {
		resp := c.roundTrip(tc.req)
		ratio := float64(len(resp.Raw)) / float64(len(tc.req.Raw))
		t.Logf("%s: %d-byte request, %d-byte answer, ratio %.2f", tc.name, len(tc.req.Raw), len(resp.Raw), ratio)
		if ratio > tc.max {
			t.Errorf("%s: ratio %.2f over %.1f", tc.name, ratio, tc.max)
		}
	}
}
