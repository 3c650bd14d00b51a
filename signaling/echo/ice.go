package echo

import (
	"net"
	"net/netip"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// The echo peer runs inside the server's network on a requester's word,
// so its ICE agent is kept on a short leash: it offers only the public
// address (and what its ICE servers map or relay), it sends connectivity
// checks only to candidates Config.PeerAllowed admits, and it asks
// nobody on the LAN for .local names.

// settingEngine builds the echo peer's ICE settings from cfg.
func settingEngine(cfg Config) webrtc.SettingEngine {
	var se webrtc.SettingEngine
	public := cfg.PublicIP
	se.SetIPFilter(func(ip net.IP) bool { return public != nil && ip.Equal(public) })
	se.SetIncludeLoopbackCandidate(public != nil && public.IsLoopback())
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return se
}

// publicPeer is the default PeerAllowed: global unicast addresses outside
// the private, loopback and link-local ranges.
func publicPeer(ap netip.AddrPort) bool {
	a := ap.Addr().Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() && ap.Port() != 0
}

// candidateAllowed reports whether the echo peer may take a remote
// candidate (an a=candidate value, with or without "candidate:"): its
// address must be an IP address PeerAllowed admits. An empty one is the
// end of candidates.
func candidateAllowed(cfg Config, raw string) bool {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return true
	}
	c, err := ice.UnmarshalCandidate(raw)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(c.Address()) // a .local name is refused here
	if err != nil || c.Port() < 1 || c.Port() > 65535 {
		return false
	}
	return cfg.PeerAllowed(netip.AddrPortFrom(addr.Unmap(), uint16(c.Port())))
}

// filterSDP drops the a=candidate lines of sdp that candidateAllowed
// refuses: an offer may carry candidates as well as trickle them.
func filterSDP(cfg Config, sdp string) string {
	lines := strings.SplitAfter(sdp, "\n")
	kept := lines[:0]
	for _, line := range lines {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "a=candidate:"); ok && !candidateAllowed(cfg, v) {
			continue
		}
		kept = append(kept, line)
	}
	return strings.Join(kept, "")
}
