package turn

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// blockedPeerPrefixes are ranges a public relay must not reach: without
// this filter, a TURN server is an open proxy into the network it runs in
// (loopback services, cloud metadata, the office LAN).
var blockedPeerPrefixes = mustPrefixes(
	"0.0.0.0/8",      // "this network"
	"10.0.0.0/8",     // RFC 1918
	"100.64.0.0/10",  // carrier-grade NAT
	"127.0.0.0/8",    // loopback
	"169.254.0.0/16", // link-local, cloud metadata
	"172.16.0.0/12",  // RFC 1918
	"192.0.0.0/24",   // IETF protocol assignments
	"192.168.0.0/16", // RFC 1918
	"198.18.0.0/15",  // benchmarking
	"224.0.0.0/3",    // multicast, reserved, broadcast
	"::/128",         // unspecified
	"::1/128",        // loopback
	"64:ff9b:1::/48", // local-use NAT64
	"fc00::/7",       // unique local
	"fe80::/10",      // link-local
	"fec0::/10",      // site-local (deprecated, still routed by some stacks)
	"ff00::/8",       // multicast
)

var loopbackPrefixes = mustPrefixes("127.0.0.0/8", "::1/128")

// IPv6 spellings that carry an IPv4 address: each is checked as that IPv4
// address too, so "::ffff:10.0.0.1" or "64:ff9b::a9fe:a9fe" cannot slip a
// denied address past the filter.
var (
	ipv4Compatible = netip.MustParsePrefix("::/96")           // ::a.b.c.d (deprecated)
	ipv4Translated = netip.MustParsePrefix("::ffff:0:0:0/96") // SIIT ::ffff:0:a.b.c.d
	nat64          = netip.MustParsePrefix("64:ff9b::/96")    // well-known NAT64
	sixToFour      = netip.MustParsePrefix("2002::/16")       // 6to4: bits 16-47
	teredo         = netip.MustParsePrefix("2001::/32")       // server in 32-63, client in 96-127 XOR ones
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")  // already denied as a whole
)

func mustPrefixes(cidrs ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(cidrs))
	for i, c := range cidrs {
		out[i] = netip.MustParsePrefix(c)
	}
	return out
}

// AddrRange is an inclusive range of addresses of one family, as coturn's
// denied-peer-ip and allowed-peer-ip write them ("a-b" or a single address).
type AddrRange struct{ From, To netip.Addr }

// ParseAddrRange reads "a.b.c.d", "a.b.c.d-e.f.g.h" or a CIDR prefix.
func ParseAddrRange(s string) (AddrRange, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		p = p.Masked()
		return AddrRange{p.Addr(), lastAddr(p)}, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	from, err := netip.ParseAddr(strings.TrimSpace(a))
	if err != nil {
		return AddrRange{}, fmt.Errorf("%w: %q", errBadAddrRange, s)
	}
	to := from
	if isRange {
		if to, err = netip.ParseAddr(strings.TrimSpace(b)); err != nil {
			return AddrRange{}, fmt.Errorf("%w: %q", errBadAddrRange, s)
		}
	}
	from, to = from.Unmap(), to.Unmap()
	if from.Is4() != to.Is4() || to.Less(from) || from.Zone() != "" || to.Zone() != "" {
		return AddrRange{}, fmt.Errorf("%w: %q", errBadAddrRange, s)
	}
	return AddrRange{from, to}, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Contains reports whether a lies within the range.
func (r AddrRange) Contains(a netip.Addr) bool {
	return a.Is4() == r.From.Is4() && !a.Less(r.From) && !r.To.Less(a)
}

func (r AddrRange) String() string {
	if r.From == r.To {
		return r.From.String()
	}
	return r.From.String() + "-" + r.To.String()
}

// canonicalPeers returns the addresses a peer address stands for: itself
// (unmapped) and every IPv4 address an IPv6 spelling wraps.
func canonicalPeers(a netip.Addr) []netip.Addr {
	a = a.Unmap().WithZone("")
	out := []netip.Addr{a}
	if a.Is4() {
		return out
	}
	b := a.As16()
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]}) }
	switch {
	case a == netip.IPv6Unspecified() || a == netip.IPv6Loopback():
		// ::/128 and ::1/128 are themselves, not IPv4-compatible addresses.
	case ipv4Compatible.Contains(a), ipv4Translated.Contains(a), nat64.Contains(a), nat64Local.Contains(a):
		out = append(out, v4(12))
	case sixToFour.Contains(a):
		out = append(out, v4(2))
	case teredo.Contains(a):
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		out = append(out, v4(4), netip.AddrFrom4(client))
	}
	return out
}

// peerPolicy decides which peers a client may relay to.
type peerPolicy struct {
	allowPrivate  bool
	allowLoopback bool
	denied        []AddrRange // beyond the built-in list
	allowed       []AddrRange // holes opened on purpose, checked first
	self          netip.Addr  // the relay's advertised address
}

// verdict is the policy's answer for one canonical address.
func (p *peerPolicy) allowedOne(a netip.Addr) bool {
	for _, r := range p.allowed {
		if r.Contains(a) {
			return true
		}
	}
	for _, r := range p.denied {
		if r.Contains(a) {
			return false
		}
	}
	if p.allowPrivate {
		return true
	}
	if p.allowLoopback {
		for _, pr := range loopbackPrefixes {
			if pr.Contains(a) {
				return true
			}
		}
	}
	for _, pr := range blockedPeerPrefixes {
		if pr.Contains(a) {
			return false
		}
	}
	return true
}

// allows reports whether a permission towards peer may be granted. The
// relay's own address is allowed so two clients of this server can relay
// to each other; the datagram check then keeps that traffic on the ports
// of live allocations.
func (p *peerPolicy) allows(peer netip.Addr) bool {
	all := canonicalPeers(peer)
	if all[0] == p.self && p.self.IsValid() {
		return true
	}
	for _, a := range all {
		if !p.allowedOne(a) {
			return false
		}
	}
	return true
}

// explicitlyAllowed reports whether the operator opened addr on purpose
// (allowed-peer-ip, allow-loopback-peers, allow-private-peers): then even
// the relay's own address is reachable on any port.
func (p *peerPolicy) explicitlyAllowed(a netip.Addr) bool {
	if p.allowPrivate {
		return true
	}
	for _, r := range p.allowed {
		if r.Contains(a) {
			return true
		}
	}
	if p.allowLoopback {
		for _, pr := range loopbackPrefixes {
			if pr.Contains(a) {
				return true
			}
		}
	}
	return false
}

// isSelf reports whether a datagram destination is the relay's own address
// in any spelling.
func (p *peerPolicy) isSelf(peer netip.Addr) bool {
	for _, a := range canonicalPeers(peer) {
		if a == p.self {
			return true
		}
	}
	return false
}

// peerAllowed is pion's PermissionHandler: the gate has already answered
// denied peers with 403; this is the second line.
func (s *Server) peerAllowed(_ net.Addr, peer net.IP) bool {
	addr, ok := netip.AddrFromSlice(peer)
	if ok && s.policy.allows(addr) {
		return true
	}
	s.metrics.deniedPeers.Inc()
	s.log.Debug("peer denied", "peer", peer)
	return false
}

// datagramAllowed is checked per relayed datagram: towards the relay's own
// address only the relay ports of live allocations of this server may be
// reached, not the TURN port, an ephemeral client socket or another
// service on the host.
func (s *Server) datagramAllowed(peer netip.AddrPort) bool {
	if addr := peer.Addr().Unmap(); addr.Is4() && addr != s.policy.self {
		return true // the common case, without canonicalPeers' allocation
	}
	addr := peer.Addr().Unmap()
	if !s.policy.isSelf(addr) || s.policy.explicitlyAllowed(addr) {
		return true
	}
	if s.livePorts.has(int(peer.Port())) {
		return true
	}
	s.metrics.deniedPeers.Inc()
	return false
}

// PeerAllowed reports whether the relay's peer policy lets traffic reach
// peer: a public address, a range the operator opened, or on the relay's
// own address a relay port of a live allocation. Other components that
// send where a client tells them (the echo peer's ICE agent) use it to
// keep to the relay's rules.
func (s *Server) PeerAllowed(peer netip.AddrPort) bool {
	addr := peer.Addr().Unmap()
	if peer.Port() == 0 || !s.policy.allows(addr) {
		return false
	}
	return !s.policy.isSelf(addr) || s.policy.explicitlyAllowed(addr) || s.livePorts.has(int(peer.Port()))
}
