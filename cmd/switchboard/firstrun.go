package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
)

// What a newcomer sees in the first minute: the URL to open, warnings
// when what the server advertises cannot work, the usage header and the
// version.

const usageHeader = `switchboard: a WebRTC signaling server with its own STUN/TURN relay and a
demo video call page, in one binary.

Example:
  switchboard -public-ip 203.0.113.10
  then open http://localhost:8080 in two browser tabs (or share the room link).

Every flag can also be set as SWITCHBOARD_<FLAG>, e.g. SWITCHBOARD_TURN_SECRET.
'switchboard turn -c FILE' runs the STUN/TURN relay alone (coturn-style config).

Flags:
`

func printUsage(out io.Writer, printDefaults func()) {
	fmt.Fprint(out, usageHeader)
	printDefaults()
}

// pageURL is the address to open the demo page at: a listener on every
// interface is reachable as localhost.
func pageURL(addr net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return scheme + "://" + addr.String()
	}
	host := "localhost"
	if !tcp.IP.IsUnspecified() {
		host = tcp.IP.String()
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

// advertiseWarnings says what in the relay's advertised address cannot
// work: browsers are handed turn:<publicIP>:<port>. host says which
// addresses are this host's and probes the others.
func advertiseWarnings(turnAddr net.Addr, publicIP net.IP, allowPrivatePeers bool, host hostView) []string {
	var out []string
	udp, ok := turnAddr.(*net.UDPAddr)
	if ok && udp.IP.IsLoopback() && !publicIP.IsLoopback() {
		out = append(out, fmt.Sprintf("TURN listens on %s only, but browsers are told turn:%s: they cannot reach it; "+
			"listen on all interfaces (-turn :%d) or advertise a loopback -public-ip for a single-machine test",
			udp, net.JoinHostPort(publicIP.String(), strconv.Itoa(udp.Port)), udp.Port))
	}
	if ok {
		if w := host.reachability(udp, publicIP); w != "" {
			out = append(out, w)
		}
	}
	if publicIP.IsPrivate() && !allowPrivatePeers {
		out = append(out, fmt.Sprintf("-public-ip %s is a private address and the relay refuses private peers: "+
			"relayed calls between browsers on this network fail; set -allow-private-peers for a LAN-only server, or a public -public-ip", publicIP))
	}
	return out
}
