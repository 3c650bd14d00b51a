package turn

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// TestPeerSpellingsCanonicalised: every IPv6 spelling of a denied IPv4
// address is denied too.
func TestPeerSpellingsCanonicalised(t *testing.T) {
	r := startRelay(t, nil)
	cases := []struct {
		peer string
		ok   bool
	}{
		{"::127.0.0.1", false},                          // IPv4-compatible loopback
		{"::7f00:2", false},                             // same, hex
		{"::a00:1", false},                              // IPv4-compatible 10.0.0.1
		{"::ffff:0:a00:1", false},                       // SIIT-translated 10.0.0.1
		{"::ffff:10.0.0.1", false},                      // IPv4-mapped
		{"::ffff:169.254.169.254", false},               // mapped metadata
		{"64:ff9b::a9fe:a9fe", false},                   // NAT64 of 169.254.169.254
		{"64:ff9b::7f00:1", false},                      // NAT64 of loopback
		{"64:ff9b:1::a00:1", false},                     // local-use NAT64
		{"2002:a9fe:a9fe::1", false},                    // 6to4 of 169.254.169.254
		{"2002:0a00:0001::1", false},                    // 6to4 of 10.0.0.1
		{"2001:0:4136:e378:8000:63bf:f5ff:fffe", false}, // Teredo, client 10.0.0.1
		{"2001:0:0a00:0001:8000:63bf:3fff:fdd2", false}, // Teredo, server 10.0.0.1
		{"fec0::1", false},                              // site-local
		{"fe80::1%eth0", false},                         // link-local with zone
		{"ff02::1", false},                              // multicast
		{"::", false},                                   // unspecified
		{"64:ff9b::cb00:7107", true},                    // NAT64 of 203.0.113.7
		{"2002:cb00:7107::1", true},                     // 6to4 of 203.0.113.7
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", true},  // Teredo, public both ends
		{"2001:db8::1", true},                           // plain global IPv6
		{"203.0.113.7", true},
	}
	for _, tc := range cases {
		addr, err := netip.ParseAddr(tc.peer)
		if err != nil {
			t.Fatalf("%s: %v", tc.peer, err)
		}
		if got := r.srv.policy.allows(addr); got != tc.ok {
			t.Errorf("peer %s allowed=%v, want %v", tc.peer, got, tc.ok)
		}
		if got := r.srv.peerAllowed(nil, net.IP(addr.AsSlice())); got != tc.ok && addr.Zone() == "" {
			t.Errorf("pion handler: peer %s allowed=%v, want %v", tc.peer, got, tc.ok)
		}
	}
}

// TestPeerListsFromConfig: denied-peer-ip adds ranges, allowed-peer-ip and
// allow-loopback-peers open holes, and the holes win.
func TestPeerListsFromConfig(t *testing.T) {
	ranges := func(ss ...string) []AddrRange {
		var out []AddrRange
		for _, s := range ss {
			r, err := ParseAddrRange(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	r := startRelay(t, func(c *Config) {
		c.DeniedPeers = ranges("203.0.113.0-203.0.113.255", "2001:db8::/32")
		c.AllowedPeers = ranges("203.0.113.9", "10.1.0.0-10.1.0.255")
		c.AllowLoopbackPeers = true
	})
	cases := map[string]bool{
		"203.0.113.7":        false, // denied range
		"203.0.113.9":        true,  // allowed inside it
		"::ffff:203.0.113.7": false,
		"2001:db8::5":        false,
		"10.1.0.7":           true, // allowed hole in RFC 1918
		"10.1.1.7":           false,
		"127.0.0.5":          true, // allow-loopback-peers
		"::1":                true,
		"::127.0.0.5":        true, // the loopback it wraps is allowed, and the spelling is not denied
		"169.254.169.254":    false,
		"198.51.100.1":       true,
	}
	for peer, ok := range cases {
		if got := r.srv.policy.allows(netip.MustParseAddr(peer)); got != ok {
			t.Errorf("peer %s allowed=%v, want %v", peer, got, ok)
		}
	}
}

func TestParseAddrRange(t *testing.T) {
	good := map[string]string{
		"10.0.0.1":                "10.0.0.1",
		" 10.0.0.1 - 10.0.0.9 ":   "10.0.0.1-10.0.0.9",
		"10.0.0.0/30":             "10.0.0.0-10.0.0.3",
		"10.0.0.7/30":             "10.0.0.4-10.0.0.7",
		"::ffff:10.0.0.1":         "10.0.0.1",
		"2001:db8::/126":          "2001:db8::-2001:db8::3",
		"2001:db8::1-2001:db8::2": "2001:db8::1-2001:db8::2",
	}
	for in, want := range good {
		r, err := ParseAddrRange(in)
		if err != nil || r.String() != want {
			t.Errorf("%q: %v, %v; want %s", in, r, err, want)
		}
	}
	for _, in := range []string{"", "x", "10.0.0.9-10.0.0.1", "10.0.0.1-::1", "10.0.0.1-", "fe80::1%eth0", "1.2.3.4/33"} {
		if _, err := ParseAddrRange(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestEveryDeniedRange: the first and last address of every built-in
// range is refused, and so is each IPv4 one in IPv4-mapped, NAT64 and 6to4
// spelling.
func TestEveryDeniedRange(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.PublicIP = net.IPv4(203, 0, 113, 1) })
	for _, p := range blockedPeerPrefixes {
		for _, a := range []netip.Addr{p.Addr(), lastAddr(p)} {
			spellings := []netip.Addr{a}
			if a.Is4() {
				b := a.As4()
				spellings = append(spellings,
					netip.AddrFrom16(netip.MustParseAddr("::ffff:"+a.String()).As16()),
					netip.AddrFrom16([16]byte{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 12: b[0], 13: b[1], 14: b[2], 15: b[3]}),
					netip.AddrFrom16([16]byte{0: 0x20, 1: 0x02, 2: b[0], 3: b[1], 4: b[2], 5: b[3], 15: 1}),
				)
			}
			for _, s := range spellings {
				if r.srv.policy.allows(s) {
					t.Errorf("%s (range %s) allowed", s, p)
				}
			}
		}
	}
}

// TestPeerAllowedExported: what other components (the echo peer) may send
// to: public addresses, and on the relay's own address only the ports of
// live allocations.
func TestPeerAllowedExported(t *testing.T) {
	r := startRelay(t, nil)
	user, pass, _ := r.srv.Credentials("p")
	relayConn, err := r.newClient(t, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relayConn.Close()
	live := relayConn.LocalAddr().(*net.UDPAddr).AddrPort()
	for ap, want := range map[string]bool{
		"203.0.113.9:5000": true,
		"10.0.0.1:5000":    false,
		"[fd00::2]:5000":   false,
		"203.0.113.9:0":    false,
		live.String():      true,
		"127.0.0.1:" + strings.Split(r.udp, ":")[1]: false, // the TURN port itself
	} {
		if got := r.srv.PeerAllowed(netip.MustParseAddrPort(ap)); got != want {
			t.Errorf("PeerAllowed(%s) = %v, want %v", ap, got, want)
		}
	}
}
