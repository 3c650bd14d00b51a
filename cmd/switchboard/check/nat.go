package check

import (
	"context"
	"net"
	"strings"

	"github.com/switchboard-rtc/switchboard/stun"
)

// checkNAT runs RFC 5780 NAT behaviour discovery against the first STUN
// server handed out and says what this network means for calls. It is a
// verdict on the network the check runs from, not on the deployment: it
// passes, with a hint where calls will need the relay. It says nothing
// when STUN gets no answer (the STUN line says so).
func checkNAT(ctx context.Context, cfg Config, servers []iceServer) []Result {
	const name = "NAT behaviour"
	var host string
	for _, s := range servers {
		for _, raw := range s.URLs {
			if u, ok := parseICEURL(raw); ok && host == "" && strings.HasPrefix(raw, "stun:") {
				host = u.host
			}
		}
	}
	if host == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r, err := stun.DiscoverNAT(ctx, stun.DiscoverConfig{Server: host})
	switch {
	case stun.IsNoAnswer(err):
		return nil
	case stun.IsNoRFC5780(err):
		return []Result{pass(name, "not tested: %s does not answer RFC 5780 NAT discovery (switchboard -turn-alt-ip, coturn alt-listening-ip)", host)}
	case err != nil:
		return []Result{pass(name, "not tested: %v", err)}
	}
	return []Result{natVerdict(name, r)}
}

// natVerdict turns a discovery report into the line: what the mapping
// and filtering mean for direct calls (RFC 4787 section 4 and 5).
func natVerdict(name string, r stun.NATReport) Result {
	if !r.NAT {
		return pass(name, "no NAT: this machine is %v to the world; direct calls work unless a firewall drops them", r.Mapped)
	}
	res := pass(name, "%s mapping, %s filtering (seen outside as %v)", r.Mapping, r.Filtering, r.Mapped)
	switch {
	case r.Mapping == stun.AddressAndPortDependent || r.Mapping == stun.AddressDependent:
		res.Detail = "symmetric NAT: " + res.Detail
		res.Hint = "Symmetric NAT: direct calls will fail with peers behind most NATs, TURN required: keep the relay reachable from here."
	case r.Filtering == stun.AddressAndPortDependent:
		res.Hint = "Direct calls work, except with peers behind a symmetric NAT: those go through TURN."
	}
	return res
}

// udpSilentHosts are the STUN hosts (IP only) that gave no answer over UDP.
func udpSilentHosts(results []Result) map[string]bool {
	silent := map[string]bool{}
	for _, r := range results {
		if hostport, ok := strings.CutPrefix(r.Check, "STUN "); ok && !r.OK {
			if h, _, err := net.SplitHostPort(hostport); err == nil {
				silent[h] = true
			}
		}
	}
	return silent
}
