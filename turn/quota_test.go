package turn

import (
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestUserQuota: one user cannot hold more than user-quota allocations,
// however many timestamps it mints; others still allocate; closing one
// frees a slot. Refusals are 486.
func TestUserQuota(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.UserQuota = 3 })
	mint := func(user string, ttl time.Duration) (string, string) {
		return Credentials([]byte(testSecret), user, ttl, time.Now())
	}
	var conns []net.PacketConn
	for i := range 3 {
		u, p := mint("mallory", time.Hour+time.Duration(i)*time.Minute)
		c, err := r.newClient(t, "udp", u, p).Allocate()
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	u, p := mint("mallory", 2*time.Hour)
	for _, network := range []string{"udp", "tcp"} {
		// The 486 carries a reason phrase that names the quota.
		c, err := r.newClient(t, network, u, p).Allocate()
		if err == nil || !strings.Contains(err.Error(), "486: Allocation Quota Reached: user-quota") {
			if c != nil {
				c.Close()
			}
			t.Fatalf("allocation over user quota over %s: %v, want 486 with its reason", network, err)
		}
	}
	u, p = mint("alice", time.Hour)
	alice, err := r.newClient(t, "tcp", u, p).Allocate()
	if err != nil {
		t.Fatalf("another user: %v", err)
	}
	defer alice.Close()
	if got := testutil.ToFloat64(r.srv.metrics.quotaUser); got != 2 {
		t.Errorf("quota_user refusals %v", got)
	}
	conns[0].Close() // Refresh(0) deletes the allocation
	waitUntil(t, func() bool { n, _ := r.srv.quotas.count("mallory"); return n == 2 }, "quota released")
	u, p = mint("mallory", time.Hour)
	again, err := r.newClient(t, "udp", u, p).Allocate()
	if err != nil {
		t.Fatalf("after freeing a slot: %v", err)
	}
	again.Close()
	for _, c := range conns[1:] {
		c.Close()
	}
}

func TestTotalQuota(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.TotalQuota = 2 })
	for i, user := range []string{"a", "b"} {
		u, p := Credentials([]byte(testSecret), user, time.Hour, time.Now())
		c, err := r.newClient(t, "udp", u, p).Allocate()
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		defer c.Close()
	}
	u, p := Credentials([]byte(testSecret), "c", time.Hour, time.Now())
	if c, err := r.newClient(t, "udp", u, p).Allocate(); err == nil || !strings.Contains(err.Error(), "486: Allocation Quota Reached: total-quota") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("allocation over total quota: %v, want 486 with its reason", err)
	}
	if got := testutil.ToFloat64(r.srv.metrics.quotaTotal); got != 1 {
		t.Errorf("quota_total refusals %v", got)
	}
}

// TestFailedAllocationReleasesQuota: a 508 (no relay port) does not keep
// its quota reservation.
func TestFailedAllocationReleasesQuota(t *testing.T) {
	blocker := listenInRange(t, 47000, 47000)
	defer blocker.Close()
	r := startRelay(t, func(c *Config) { c.RelayPortMin, c.RelayPortMax = 47000, 47000 })
	u, p := Credentials([]byte(testSecret), "x", time.Hour, time.Now())
	if c, err := r.newClient(t, "udp", u, p).Allocate(); err == nil {
		c.Close()
		t.Fatal("allocated on a taken port")
	}
	// pion reports the failure after it has answered: wait for it.
	waitUntil(t, func() bool {
		n, total := r.srv.quotas.count("x")
		return n == 0 && total == 0 && testutil.ToFloat64(r.srv.metrics.allocFailed) == 1
	}, "quota released and the failure counted")
}

func TestMaxBPSDropsExcess(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.AllowLoopbackPeers, c.MaxBPS = true, 1000 })
	user, pass, _ := r.srv.Credentials("s")
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
	payload := make([]byte, 1000)
	const sent = 100 // 100 kB against a 64 kB burst and 1 kB/s
	m := r.srv.metrics
	for i := range sent {
		sendCounted(t, m, relayConn, payload, peer.LocalAddr(), i+1)
	}
	if out := testutil.ToFloat64(m.relayedOutPackets); out < 60 || out > 70 {
		t.Errorf("relayed %v of %d 1 kB datagrams, want the 64 kB burst", out, sent)
	}
}

func TestBPSCapacityIsServerWide(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.AllowLoopbackPeers, c.BPSCapacity = true, 1000 })
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	payload := make([]byte, 1000)
	sent := 0
	for _, who := range []string{"a", "b"} {
		u, p := Credentials([]byte(testSecret), who, time.Hour, time.Now())
		c, err := r.newClient(t, "udp", u, p).Allocate()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range 50 {
			sendCounted(t, r.srv.metrics, c, payload, peer.LocalAddr(), sent+1)
			sent++
		}
	}
	m := r.srv.metrics
	if out := testutil.ToFloat64(m.relayedOutPackets); out < 60 || out > 70 {
		t.Errorf("relayed %v of 100 1 kB datagrams from two allocations, want one 64 kB burst", out)
	}
}

// TestSecretRotation: credentials from any configured secret verify; the
// first secret mints.
func TestSecretRotation(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.Secrets = [][]byte{[]byte("new-secret"), []byte(testSecret)} })
	user, pass, _ := r.srv.Credentials("x")
	if want := restPassword([]byte("new-secret"), user); pass != want {
		t.Fatalf("minted with the wrong secret")
	}
	for name, secret := range map[string]string{"new": "new-secret", "old": testSecret} {
		u, p := Credentials([]byte(secret), "x-"+name, time.Hour, time.Now())
		c, err := r.newClient(t, "udp", u, p).Allocate()
		if err != nil {
			t.Fatalf("%s secret: %v", name, err)
		}
		c.Close()
	}
	u, p := Credentials([]byte("retired"), "x", time.Hour, time.Now())
	if c, err := r.newClient(t, "udp", u, p).Allocate(); err == nil {
		c.Close()
		t.Fatal("retired secret verified")
	}
}

func TestStaticUsers(t *testing.T) {
	key := turn.GenerateAuthKey("bob", "switchboard", "bobpass")
	r := startRelay(t, func(c *Config) {
		c.Secrets = nil
		c.Users = []StaticUser{{Name: "alice", Password: "alicepass"}, {Name: "bob", Key: key}}
	})
	for _, creds := range [][2]string{{"alice", "alicepass"}, {"bob", "bobpass"}} {
		c, err := r.newClient(t, "tcp", creds[0], creds[1]).Allocate()
		if err != nil {
			t.Fatalf("%s: %v", creds[0], err)
		}
		c.Close()
	}
	for _, creds := range [][2]string{{"alice", "wrong"}, {"carol", "x"}, {"bob", hex.EncodeToString(key)}} {
		if c, err := r.newClient(t, "udp", creds[0], creds[1]).Allocate(); err == nil || !strings.Contains(err.Error(), "401") {
			if c != nil {
				c.Close()
			}
			t.Errorf("%s/%s: %v, want 401", creds[0], creds[1], err)
		}
	}
}

// sendCounted sends one datagram through the relay and waits until the
// server has relayed or dropped it, so loss on the way in cannot blur the
// count.
func sendCounted(t *testing.T, m *metrics, c net.PacketConn, p []byte, to net.Addr, total int) {
	t.Helper()
	if _, err := c.WriteTo(p, to); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		return int(testutil.ToFloat64(m.relayedOutPackets)+testutil.ToFloat64(m.droppedBandwidth)) >= total
	}, "datagram relayed or dropped")
}
