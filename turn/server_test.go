package turn

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testSecret = "relay-test-secret"

type testRelay struct {
	srv *Server
	reg *prometheus.Registry
	udp string
	tcp string
}

func startRelay(t *testing.T, tweak func(*Config)) *testRelay {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := Config{
		UDP: []net.PacketConn{udp}, TCP: []net.Listener{tcp}, PublicIP: net.IPv4(127, 0, 0, 1), RelayBindAddress: "127.0.0.1",
		RelayPortMin: 40000, RelayPortMax: 60000, Secrets: [][]byte{[]byte(testSecret)}, Registerer: reg,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &testRelay{srv: srv, reg: reg, udp: udp.LocalAddr().String(), tcp: tcp.Addr().String()}
}

// newClient returns a pion TURN client speaking to the relay over UDP or TCP.
func (r *testRelay) newClient(t *testing.T, network, username, password string) *turn.Client {
	t.Helper()
	return r.newClientFrom(t, network, "127.0.0.1", username, password)
}

// newClientFrom is newClient from the local address local (any of
// 127.0.0.0/8 on Linux): another source to the relay.
func (r *testRelay) newClientFrom(t *testing.T, network, local, username, password string) *turn.Client {
	t.Helper()
	var conn net.PacketConn
	server := r.udp
	if network == "tcp" {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp4", r.tcp)
		if err != nil {
			t.Fatal(err)
		}
		conn, server = turn.NewSTUNConn(c), r.tcp
	} else {
		c, err := net.ListenPacket("udp4", net.JoinHostPort(local, "0"))
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: username, Password: password, RTO: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); conn.Close() })
	return client
}

func TestCredentialsMatchTURNRESTScheme(t *testing.T) {
	// Vector: echo -n 1700000000:alice | openssl dgst -sha1 -hmac s3cret -binary | base64
	user, pass := Credentials([]byte("s3cret"), "alice", time.Hour, time.Unix(1700000000-3600, 0))
	if user != "1700000000:alice" || pass != "TtElzSjT0GdnTQ9xdcRNxx96yQs=" {
		t.Fatalf("got %q / %q", user, pass)
	}
}

func TestAllocateAndRelay(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			r := startRelay(t, func(c *Config) { c.AllowLoopbackPeers = true })
			user, pass, _ := r.srv.Credentials("session-1")
			client := r.newClient(t, network, user, pass)
			relayConn, err := client.Allocate()
			if err != nil {
				t.Fatalf("allocate: %v", err)
			}
			defer relayConn.Close()
			if n, err := testutil.GatherAndCount(r.reg, "switchboard_turn_allocations"); err != nil || n != 1 || r.srv.turn.AllocationCount() != 1 {
				t.Errorf("allocations: gauge series %d (%v), count %d; want 1", n, err, r.srv.turn.AllocationCount())
			}

			// The relay's public address is 127.0.0.1 here: a peer on it is
			// the relay itself, reachable on any port only because loopback
			// peers are allowed on purpose.
			peer := listenInRange(t, 40000, 60000)
			defer peer.Close()
			if _, err := relayConn.WriteTo([]byte("to peer"), peer.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1500)
			_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := peer.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "to peer" {
				t.Fatalf("peer read %q, %v", buf[:n], err)
			}
			if from.String() != relayConn.LocalAddr().String() {
				t.Fatalf("peer saw %v, want relay address %v", from, relayConn.LocalAddr())
			}
			if _, err := peer.WriteTo([]byte("to client"), from); err != nil {
				t.Fatal(err)
			}
			_ = relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err = relayConn.ReadFrom(buf)
			if err != nil || !bytes.Equal(buf[:n], []byte("to client")) {
				t.Fatalf("client read %q, %v", buf[:n], err)
			}
			// The server counts after its write returns, which may be after
			// the peer has the datagram: poll.
			waitUntil(t, func() bool {
				return testutil.ToFloat64(r.srv.metrics.relayedInBytes) == float64(len("to client")) &&
					testutil.ToFloat64(r.srv.metrics.relayedOutBytes) == float64(len("to peer"))
			}, "relayed bytes counted")
		})
	}
}

func TestBadCredentialsCannotAllocate(t *testing.T) {
	now := time.Now()
	goodUser, goodPass := Credentials([]byte(testSecret), "s", time.Hour, now)
	expiredUser, expiredPass := Credentials([]byte(testSecret), "s", -time.Minute, now)
	farUser, farPass := Credentials([]byte(testSecret), "s", 48*time.Hour, now)
	otherUser, otherPass := Credentials([]byte("another-secret"), "s", time.Hour, now)
	cases := []struct{ name, user, pass, reason string }{
		{"wrong password", goodUser, goodPass + "x", authBadPassword},
		{"expired", expiredUser, expiredPass, authExpired},
		{"too far ahead", farUser, farPass, authTooFar},
		{"other secret", otherUser, otherPass, authBadPassword},
		{"not a timestamp", "alice", goodPass, authBadUsername},
		{"empty", "", "", authBadUsername},
	}
	for _, network := range []string{"udp", "tcp"} {
		r := startRelay(t, nil)
		for _, tc := range cases {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				before := testutil.ToFloat64(r.srv.metrics.authVec.WithLabelValues(tc.reason))
				client := r.newClient(t, network, tc.user, tc.pass)
				conn, err := client.Allocate()
				if err == nil {
					conn.Close()
					t.Fatal("allocation succeeded")
				}
				// RFC 8489 and coturn: 401; pion/turn v4 alone says 400.
				if !strings.Contains(err.Error(), "error 401") {
					t.Fatalf("allocate failed with %v, want 401", err)
				}
				if got := testutil.ToFloat64(r.srv.metrics.authVec.WithLabelValues(tc.reason)); got <= before {
					t.Errorf("auth{result=%s} did not grow", tc.reason)
				}
			})
		}
		if got := testutil.ToFloat64(r.srv.metrics.authVec.WithLabelValues(authOK)); got != 0 {
			t.Errorf("%s: %v successful auths", network, got)
		}
	}
}

func TestPeerPolicy(t *testing.T) {
	r := startRelay(t, nil)
	cases := []struct {
		peer string
		ok   bool
	}{
		{"127.0.0.1", true}, // the relay itself
		{"127.0.0.2", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"::1", false},
		{"fe80::1", false},
		{"fd00::1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:127.0.0.1", true},
		{"203.0.113.7", true},
		{"2001:db8::1", true},
	}
	for _, tc := range cases {
		if got := r.srv.peerAllowed(nil, net.ParseIP(tc.peer)); got != tc.ok {
			t.Errorf("peer %s allowed=%v, want %v", tc.peer, got, tc.ok)
		}
	}
	loose := startRelay(t, func(c *Config) { c.AllowPrivatePeers = true })
	if !loose.srv.peerAllowed(nil, net.ParseIP("10.0.0.1")) {
		t.Error("AllowPrivatePeers did not allow a private peer")
	}
}

func TestPrivatePeerRefusedOnTheWire(t *testing.T) {
	r := startRelay(t, nil)
	user, pass, _ := r.srv.Credentials("s")
	relayConn, err := r.newClient(t, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	// 127.0.0.2 is loopback but not the relay: CreatePermission gets 403.
	_, err = relayConn.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 9})
	if err == nil {
		t.Fatal("write to a private peer succeeded")
	}
	if got := testutil.ToFloat64(r.srv.metrics.deniedPeers); got < 1 {
		t.Errorf("denied peers counter %v", got)
	}
}

// TestRelaySelfOnlyOnRelayPorts: towards its own address the relay reaches
// relay ports only, never the TURN port or other local services.
func TestRelaySelfOnlyOnRelayPorts(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.RelayPortMin, c.RelayPortMax = 45000, 45100 })
	user, pass, _ := r.srv.Credentials("s")
	relayConn, err := r.newClient(t, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	turnPort, _ := net.ResolveUDPAddr("udp4", r.udp)
	if _, err := relayConn.WriteTo([]byte("into the turn port"), turnPort); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return testutil.ToFloat64(r.srv.metrics.deniedPeers) >= 1 }, "datagram to the TURN port denied")
	if got := testutil.ToFloat64(r.srv.metrics.relayedOutBytes); got != 0 {
		t.Fatalf("%v bytes relayed to a non-relay port", got)
	}
}

// waitUntil polls cond until it holds, failing with what after 5 s. It is
// for counters and state no event announces (metrics, quotas, the fast
// path's counts, a drain flag): a test that can read a socket does that.
func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // the poll's interval: the state has no event to wait on
	}
}

// listenInRange binds a UDP socket on 127.0.0.1 at a free port in [lo, hi].
func listenInRange(t *testing.T, lo, hi int) net.PacketConn {
	t.Helper()
	for port := lo; port <= hi; port++ {
		if pc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			return pc
		}
	}
	t.Fatalf("no free UDP port in %d-%d", lo, hi)
	return nil
}

func TestConfigValidation(t *testing.T) {
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	ok := func() Config {
		return Config{UDP: []net.PacketConn{udp}, PublicIP: net.IPv4(127, 0, 0, 1), Secrets: [][]byte{[]byte("s")}}
	}
	bad := map[string]func(*Config){
		"no sockets":        func(c *Config) { c.UDP = nil },
		"no public ip":      func(c *Config) { c.PublicIP = nil },
		"unspecified ip":    func(c *Config) { c.PublicIP = net.IPv4zero },
		"no secret":         func(c *Config) { c.Secrets = nil },
		"empty secret":      func(c *Config) { c.Secrets = [][]byte{nil} },
		"user without key":  func(c *Config) { c.Users = []StaticUser{{Name: "a"}} },
		"short validity":    func(c *Config) { c.MaxCredentialValidity = time.Minute },
		"negative quota":    func(c *Config) { c.UserQuota = -2 },
		"negative bps":      func(c *Config) { c.MaxBPS = -1 },
		"zero burst":        func(c *Config) { c.AuthBurst = -1 },
		"inverted ports":    func(c *Config) { c.RelayPortMin, c.RelayPortMax = 6000, 5000 },
		"port out of range": func(c *Config) { c.RelayPortMin, c.RelayPortMax = 1, 70000 },
		"short ttl":         func(c *Config) { c.CredentialTTL = time.Second },
		"bad bind address":  func(c *Config) { c.RelayBindAddress = "localhost" },
	}
	for name, mutate := range bad {
		cfg := ok()
		mutate(&cfg)
		cfg.setDefaults()
		if err := cfg.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func splitHostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}
