package turn

import (
	"net"
	"net/netip"
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
	"ff00::/8",       // multicast
)

func mustPrefixes(cidrs ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(cidrs))
	for i, c := range cidrs {
		out[i] = netip.MustParsePrefix(c)
	}
	return out
}

// peerAllowed reports whether a client may create a permission or channel
// towards peer. The relay's own public address is allowed so two clients
// of this server can relay to each other; datagramAllowed then keeps that
// traffic on relay ports.
func (s *Server) peerAllowed(_ net.Addr, peer net.IP) bool {
	addr, ok := netip.AddrFromSlice(peer)
	if !ok {
		return false
	}
	addr = addr.Unmap()
	if s.cfg.AllowPrivatePeers || addr == s.publicIP {
		return true
	}
	for _, p := range blockedPeerPrefixes {
		if p.Contains(addr) {
			s.metrics.deniedPeers.Inc()
			s.log.Debug("peer denied", "peer", addr)
			return false
		}
	}
	return true
}

// datagramAllowed is checked per relayed datagram: towards the relay's own
// address only relay ports may be reached, not the TURN port itself or
// other services on the host.
func (s *Server) datagramAllowed(peer *net.UDPAddr) bool {
	if s.cfg.AllowPrivatePeers || peer.Port >= s.cfg.RelayPortMin && peer.Port <= s.cfg.RelayPortMax {
		return true
	}
	addr, ok := netip.AddrFromSlice(peer.IP)
	if ok && addr.Unmap() == s.publicIP {
		s.metrics.deniedPeers.Inc()
		return false
	}
	return true
}
