package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/switchboard-rtc/switchboard/stun"
)

// Is the address browsers are told to use for the relay this host? It is
// when it is one of the host's interface addresses the relay listens on,
// or when a STUN Binding sent to it comes back from the relay: a NAT or a
// port forward maps it here (clouds' 1:1 NAT, docker -p).

// probeTimeout bounds that round trip at start-up: a NAT that maps the
// address here answers within a LAN round trip.
const probeTimeout = time.Second

// neverRouted are ranges no NAT hands out: RFC 5737's documentation
// networks (the README's 203.0.113.10 among them), RFC 2544's
// benchmarking range and IPv6's documentation prefix. Nothing is sent to
// them.
var neverRouted = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// hostView is what the check knows of this host.
type hostView struct {
	addrs []net.IP              // interface addresses; nil: unknown, no check
	probe func(dst string) bool // a STUN Binding round trip to dst answered
}

// thisHost reads the interface addresses and probes with real STUN
// Bindings until ctx ends.
func thisHost(ctx context.Context) hostView {
	var h hostView
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				h.addrs = append(h.addrs, ipn.IP)
			}
		}
	}
	h.probe = func(dst string) bool {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		return stun.Probe(pctx, dst) == nil
	}
	return h
}

// reachability returns a warning naming the fix when publicIP is not an
// address of this host that the relay at turn answers on, or "".
func (h hostView) reachability(turn *net.UDPAddr, publicIP net.IP) string {
	if h.addrs == nil {
		return "" // cannot tell: do not cry wolf
	}
	told := "turn:" + net.JoinHostPort(publicIP.String(), strconv.Itoa(turn.Port))
	for _, a := range h.addrs {
		if !a.Equal(publicIP) {
			continue
		}
		if turn.IP.IsUnspecified() || turn.IP.Equal(publicIP) || turn.IP.IsLoopback() {
			return "" // the loopback listener has its own warning
		}
		return fmt.Sprintf("TURN listens on %s only, but browsers are told %s, another address of this host: "+
			"set -public-ip %s, or listen on all interfaces (-turn :%d)", turn, told, turn.IP, turn.Port)
	}
	fix := "set -public-ip to this server's public address (empty: its first non-loopback IPv4)"
	ip, _ := netip.AddrFromSlice(publicIP)
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return fmt.Sprintf("-public-ip %s is a loopback address this host does not have: browsers are told %s; %s, "+
			"or 127.0.0.1 for a single-machine test", publicIP, told, fix)
	}
	for _, p := range neverRouted {
		if p.Contains(ip) {
			return fmt.Sprintf("-public-ip %s is in %s, reserved for documentation and tests: no network routes it, "+
				"so browsers told %s cannot reach the relay; %s", publicIP, p, told, fix)
		}
	}
	if h.probe(net.JoinHostPort(publicIP.String(), strconv.Itoa(turn.Port))) {
		return "" // a NAT or port forward maps it here
	}
	return fmt.Sprintf("-public-ip %s is not an address of this host, and a STUN Binding sent to it got no answer from "+
		"this relay within %v: browsers are told %s. If it is your NAT's or load balancer's address, forward UDP and TCP %d "+
		"and the -relay-ports to this host (a NAT that does not hairpin fails this check and still works); otherwise %s",
		publicIP, probeTimeout, told, turn.Port, fix)
}
