package check

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API scheme fixes HMAC-SHA1
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v4"
)

// checkICEServers looks at what the server hands out: at least one
// STUN and one TURN URL, and TURN credentials that have not expired.
func checkICEServers(w *welcome) Result {
	const name = "ICE servers handed out"
	var stuns, turns int
	var expiry time.Time
	for _, s := range w.ICEServers {
		for _, u := range s.URLs {
			switch {
			case strings.HasPrefix(u, "stun:"):
				stuns++
			case strings.HasPrefix(u, "turn:"), strings.HasPrefix(u, "turns:"):
				turns++
				if e, err := credentialExpiry(s.Username); err == nil {
					expiry = e
				}
			}
		}
	}
	switch {
	case turns == 0 && w.JoinErr != nil:
		return fail(name, "This server hands TURN credentials only to sessions in a room, and it refused the check's join: "+
			"pass -join-token with a join token for a room named switchboard-check-* (minted with the server's -join-secret).",
			"%d STUN URL(s) and no TURN URL: no room joined (%v)", stuns, w.JoinErr)
	case turns == 0:
		return fail(name, "Without TURN, peers behind symmetric NATs or UDP-blocking firewalls cannot connect: run the bundled relay (-turn) or point the server at one.",
			"%d STUN URL(s) and no TURN URL", stuns)
	case expiry.IsZero():
		return fail(name, "TURN credentials must be <unix expiry>:<user> (the TURN REST API scheme), or relays that check expiry refuse them.",
			"TURN username is not in the REST scheme")
	case time.Until(expiry) < time.Minute:
		return fail(name, "The server's clock, or its -credential-ttl, is wrong: credentials must be valid when handed out.",
			"TURN credentials expire at %s (%s from now)", expiry.UTC().Format(time.RFC3339), roundS(time.Until(expiry)))
	}
	return pass(name, "%d STUN and %d TURN URL(s); credentials valid for %s", stuns, turns, roundS(time.Until(expiry)))
}

func roundS(d time.Duration) string { return d.Round(time.Second).String() }

func credentialExpiry(username string) (time.Time, error) {
	stamp, _, _ := strings.Cut(username, ":")
	sec, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return time.Time{}, errBadCredential
	}
	return time.Unix(sec, 0), nil
}

// iceURL is one stun:, turn: or turns: URL taken apart.
type iceURL struct {
	raw       string
	secure    bool   // turns:
	transport string // udp or tcp
	host      string // host:port
}

func parseICEURL(raw string) (iceURL, bool) {
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok {
		return iceURL{}, false
	}
	hostport, query, _ := strings.Cut(rest, "?")
	u := iceURL{raw: raw, secure: scheme == "turns", transport: "udp", host: hostport}
	if q, err := url.ParseQuery(query); err == nil && q.Get("transport") != "" {
		u.transport = q.Get("transport")
	}
	if u.secure {
		u.transport = "tcp"
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		port := "3478"
		if u.secure {
			port = "5349"
		}
		u.host = net.JoinHostPort(strings.Trim(hostport, "[]"), port)
	}
	return u, true
}

// transportName is how a report names a TURN transport.
func (u iceURL) transportName() string {
	switch {
	case u.secure:
		return "TLS"
	case u.transport == "tcp":
		return "TCP"
	}
	return "UDP"
}

// client dials u and returns a pion TURN client on it, closed by the
// returned function, or when timeout passes (pion's own retransmissions
// take half a minute to give up).
func dialTURN(ctx context.Context, cfg Config, u iceURL, username, password string) (*turn.Client, func(), error) {
	var conn net.PacketConn
	timeout := cfg.Timeout
	d := net.Dialer{Timeout: timeout}
	switch {
	case u.secure:
		// Connect, then shake hands, each within the timeout: a port that
		// accepts connections and then says nothing is not a closed port.
		host, _, _ := net.SplitHostPort(u.host)
		raw, err := d.DialContext(ctx, "tcp", u.host)
		if err != nil {
			return nil, nil, err
		}
		c := tls.Client(raw, cfg.tlsFor(host))
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err = c.HandshakeContext(hctx)
		cancel()
		if err != nil {
			raw.Close()
			return nil, nil, fmt.Errorf("%w: %w", errTLSHandshake, err)
		}
		conn = turn.NewSTUNConn(c)
	case u.transport == "tcp":
		c, err := d.DialContext(ctx, "tcp", u.host)
		if err != nil {
			return nil, nil, err
		}
		conn = turn.NewSTUNConn(c)
	default:
		c, err := net.ListenPacket("udp", ":0")
		if err != nil {
			return nil, nil, err
		}
		conn = c
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: u.host, TURNServerAddr: u.host, Conn: conn,
		Username: username, Password: password, RTO: 100 * time.Millisecond,
	})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	stop := func() {
		client.Close()
		conn.Close()
	}
	if err := client.Listen(); err != nil {
		stop()
		return nil, nil, err
	}
	timer := time.AfterFunc(timeout, stop)
	return client, func() { timer.Stop(); stop() }, nil
}

// checkSTUN asks each STUN URL for this machine's mapped address.
func checkSTUN(ctx context.Context, cfg Config, servers []iceServer) []Result {
	var results []Result
	for _, s := range servers {
		for _, raw := range s.URLs {
			if !strings.HasPrefix(raw, "stun:") {
				continue
			}
			u, ok := parseICEURL(raw)
			if !ok {
				continue
			}
			name := "STUN " + u.host
			client, stop, err := dialTURN(ctx, cfg, u, "", "")
			if err != nil {
				results = append(results, fail(name, "", "%v", err))
				continue
			}
			mapped, err := client.SendBindingRequest()
			stop()
			if err != nil {
				generic := fmt.Sprintf("Nothing answered on UDP %s: the port is closed or filtered, or the server advertises an address this machine cannot reach (check -public-ip / external-ip).", u.host)
				results = append(results, fail(name, silentHint(ctx, cfg, u, generic)+" Without STUN, peers only find direct paths on the same network.",
					"no answer (%v)", err))
				continue
			}
			results = append(results, pass(name, "this machine is %v as the server sees it", mapped))
		}
	}
	return results
}

// checkTURN allocates on every TURN URL handed out (and on cfg.TURNURL
// with credentials from cfg.TURNSecret), and compares the relayed
// address with the address the relay was reached at.
// udpSilent names the hosts STUN got no UDP answer from: a datagram from
// here cannot try a relayed address there, the relay itself must.
func checkTURN(ctx context.Context, cfg Config, servers []iceServer, udpSilent map[string]bool) ([]Result, turnSummary) {
	type target struct {
		u              iceURL
		user, password string
	}
	var targets []target
	for _, s := range servers {
		for _, raw := range s.URLs {
			if u, ok := parseICEURL(raw); ok && (strings.HasPrefix(raw, "turn:") || u.secure) {
				targets = append(targets, target{u, s.Username, s.Credential})
			}
		}
	}
	if cfg.TURNURL != "" {
		user, password := restCredentials(cfg.TURNSecret, "switchboard-check", time.Hour)
		for _, raw := range expandTURN(cfg.TURNURL) {
			u, _ := parseICEURL(raw)
			targets = append(targets, target{u, user, password})
		}
	}
	var results []Result
	var sum turnSummary
	// Per relay host: UDP that got no answer where TCP or TLS allocated
	// means UDP is blocked on the way, not that the relay is down.
	udpNoAlloc, streamOK := map[string]bool{}, map[string][]string{} // host → "TCP", "TLS" that worked
	for _, t := range targets {
		host, _, _ := net.SplitHostPort(t.u.host)
		r, got := allocate(ctx, cfg, t.u, t.user, t.password, udpSilent[host])
		results = append(results, r)
		silent := got == nothing
		sum.tried++
		if got >= allocated {
			sum.allocated++
		}
		if r.OK {
			sum.reachable++
		}
		switch {
		case t.u.transportName() == "UDP" && silent:
			udpNoAlloc[host] = true
		case t.u.transportName() != "UDP" && r.OK:
			streamOK[host] = append(streamOK[host], t.u.transportName())
		}
	}
	for host := range udpNoAlloc {
		if ok := streamOK[host]; len(ok) > 0 {
			results = append(results, fail("TURN over UDP to "+host, "UDP is blocked on the way to the relay: calls from here will use TURN over "+strings.Join(ok, " or ")+", expect higher latency. Open the relay's UDP port if that is not on purpose.",
				"no answer over UDP while %s allocated", strings.Join(ok, " and ")))
		}
	}
	return results, sum
}

// expandTURN turns a bare turn: URL into its UDP and TCP forms.
func expandTURN(raw string) []string {
	if strings.Contains(raw, "?transport=") || strings.HasPrefix(raw, "turns:") {
		return []string{raw}
	}
	return []string{raw + "?transport=udp", raw + "?transport=tcp"}
}

func restCredentials(secret, user string, ttl time.Duration) (string, string) {
	username := strconv.FormatInt(time.Now().Add(ttl).Unix(), 10) + ":" + user
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// outcome is how far allocate got.
type outcome int

const (
	nothing   outcome = iota // nothing answered
	refused                  // the relay answered with an error
	allocated                // an allocation, relayed address unusable
	reachable                // an allocation and its relayed address reachable
)

// allocate tries one TURN URL. With udpBlocked (STUN got no answer from
// this host), a TCP or TLS allocation's relayed address is tried from a
// second allocation when a datagram from here does not get through.
func allocate(ctx context.Context, cfg Config, u iceURL, user, password string, udpBlocked bool) (Result, outcome) {
	name := fmt.Sprintf("TURN over %s %s", u.transportName(), u.host)
	// The probes end before dialTURN's timer closes the client.
	deadline := time.Now().Add(cfg.Timeout * 9 / 10)
	client, stop, err := dialTURN(ctx, cfg, u, user, password)
	if err != nil {
		if hint := tlsHint(u, err); hint != "" {
			return fail(name, hint, "%v", err), refused
		}
		if errors.Is(err, errTLSHandshake) {
			return fail(name, fmt.Sprintf("%s accepts connections but did not finish a TLS handshake within %v: the turns: URL must name a port where the relay listens for TLS (tls-listening-port), and the relay may be overloaded.", u.host, cfg.Timeout), "%v", err), nothing
		}
		hint := silentHint(ctx, cfg, u, fmt.Sprintf("Nothing accepts connections on %s: the port is closed or filtered, or the server advertises an address this machine cannot reach (check -public-ip / external-ip).", u.host))
		if u.secure {
			_, port, _ := net.SplitHostPort(u.host)
			hint = "TURN over TLS needs TCP port " + port + " open (tls-listening-port, or the HTTPS port of a switchboard with -tls-cert). " + hint
		}
		return fail(name, hint, "%v", err), nothing
	}
	defer stop()
	relay, err := client.Allocate()
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "401"), strings.Contains(msg, "Unauthorized"), strings.Contains(msg, "438"):
			return fail(name, "TURN refused the credentials: the signaling server's -turn-secret and the relay's static-auth-secret differ, or the clocks of the two hosts disagree by more than the credential lifetime.", "refused: %s", msg), refused
		case strings.Contains(msg, "486"), strings.Contains(msg, "508"):
			return fail(name, "The relay is at its allocation quota or out of relay ports: raise user-quota/total-quota or widen min-port..max-port.", "refused: %s", msg), refused
		}
		hint := silentHint(ctx, cfg, u, fmt.Sprintf("The relay at %s did not answer over %s: the port is closed or filtered, or the address is not where the relay runs.", u.host, u.transportName()))
		return fail(name, hint, "no allocation: %s", msg), nothing
	}
	defer relay.Close()
	relayed := relay.LocalAddr()
	if r := relayReachable(u, relayed); r != "" {
		return fail(name, r, "allocated, but the relay advertises %v", relayed), allocated
	}
	unreachable := func(why string) string {
		return fmt.Sprintf("The relay hands out %v, but %s never came through: "+
			"the relay advertises %v, which does not reach it (check -public-ip / external-ip: the address clients reach the relay at), "+
			"or a firewall closes the relay port range (min-port..max-port, -relay-ports) to UDP.", relayed, why, addrIP(relayed))
	}
	if udpBlocked && u.transportName() != "UDP" {
		// This machine's UDP does not reach the relay, so a datagram from
		// here would say nothing of the relayed address: the relay tries it.
		if err := probeFromRelay(ctx, cfg, u, user, password, client, relay, deadline); err != nil {
			return fail(name, unreachable("a datagram the relay sent there from another allocation"),
				"allocated %v, unreachable: %v", relayed, err), allocated
		}
		return pass(name, "relayed address %v, reachable through the relay (UDP from here is blocked)", relayed), reachable
	}
	err = probeFromHere(client, relay, deadline)
	var denied *peerRefused
	if !errors.As(err, &denied) {
		if err != nil {
			return fail(name, unreachable("a datagram sent there from this machine"), "allocated %v, unreachable: %v", relayed, err), allocated
		}
		return pass(name, "relayed address %v, reachable from here", relayed), reachable
	}
	// The relay will not relay to this machine (a private address, as
	// when checking from the relay's own network): try the relayed
	// address from a second allocation on the same relay instead.
	why := refusedWhy(denied.peer)
	switch err := probeFromRelay(ctx, cfg, u, user, password, client, relay, deadline); {
	case errors.Is(err, errSecondAllocation):
		return fail(name, "Could not try the relayed address: "+why+", and a second allocation to try it from failed.",
			"allocated %v, untried: %v", relayed, err), allocated
	case err != nil:
		return fail(name, unreachable("a datagram the relay sent there from another allocation")+
			" (From this machine it could not be tried: "+why+".)", "allocated %v, unreachable: %v", relayed, err), allocated
	}
	return pass(name, "relayed address %v, reachable through the relay; %s", relayed, why), reachable
}

// probeFromHere sends datagrams from a plain socket of this machine to
// the relayed address and waits for one to come through the allocation:
// what a peer that is not behind this relay does.
func probeFromHere(client *turn.Client, relay net.PacketConn, deadline time.Time) error {
	mapped, err := client.SendBindingRequest()
	if err != nil {
		return fmt.Errorf("own address: %w", err)
	}
	if err := client.CreatePermission(mapped); err != nil {
		if has403(err) {
			return &peerRefused{peer: mapped, err: err}
		}
		return fmt.Errorf("permission for %v: %w", mapped, err)
	}
	probe, err := net.ListenPacket("udp", ":0")
	if err != nil {
		return err
	}
	defer probe.Close()
	return deliver(relay, deadline, func() error {
		_, err := probe.WriteTo([]byte("switchboard-check"), relay.LocalAddr())
		return err
	})
}

// probeFromRelay sends datagrams to relay's relayed address from a second
// allocation on the same relay, whose relayed address the relay always
// lets its allocations reach.
func probeFromRelay(ctx context.Context, cfg Config, u iceURL, user, password string, client *turn.Client, relay net.PacketConn, deadline time.Time) error {
	other, stop, err := dialTURN(ctx, cfg, u, user, password)
	if err != nil {
		return fmt.Errorf("%w: %w", errSecondAllocation, err)
	}
	defer stop()
	from, err := other.Allocate()
	if err != nil {
		return fmt.Errorf("%w: %w", errSecondAllocation, err)
	}
	defer from.Close()
	if err := client.CreatePermission(from.LocalAddr()); err != nil {
		return fmt.Errorf("permission for %v: %w", from.LocalAddr(), err)
	}
	return deliver(relay, deadline, func() error {
		_, err := from.WriteTo([]byte("switchboard-check"), relay.LocalAddr())
		return err
	})
}

// deliver calls send every 200 ms (UDP may drop one) until a datagram
// comes through relay, or deadline.
func deliver(relay net.PacketConn, deadline time.Time, send func() error) error {
	got := make(chan error, 1)
	start := time.Now()
	go func() {
		buf := make([]byte, 64)
		_ = relay.SetReadDeadline(deadline)
		_, _, err := relay.ReadFrom(buf)
		if isTimeout(err) {
			err = fmt.Errorf("%w in %s", errNothingArrived, roundMS(time.Since(start)))
		}
		got <- err
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := send(); err != nil {
			_ = relay.SetReadDeadline(time.Now())
			<-got
			return err
		}
		select {
		case err := <-got:
			return err
		case <-tick.C:
		}
	}
}

// relayReachable returns a hint when the relayed address cannot be what
// clients elsewhere reach: a private or loopback address while the relay
// itself was reached at a public one (NAT or a container without
// external-ip).
func relayReachable(u iceURL, relayed net.Addr) string {
	ua, ok := relayed.(*net.UDPAddr)
	if !ok {
		return ""
	}
	addr, ok := netip.AddrFromSlice(ua.IP)
	if !ok {
		return ""
	}
	addr = addr.Unmap()
	host, _, _ := net.SplitHostPort(u.host)
	reached, err := netip.ParseAddr(host)
	if err != nil {
		ips, lerr := net.LookupIP(host)
		if lerr != nil || len(ips) == 0 {
			return ""
		}
		reached, _ = netip.AddrFromSlice(ips[0])
		reached = reached.Unmap()
	}
	public := func(a netip.Addr) bool {
		return !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsUnspecified()
	}
	if addr != reached && public(reached) && !public(addr) {
		return fmt.Sprintf("The relay hands out %v, an address clients elsewhere cannot reach, while it was reached at %v: set external-ip (switchboard turn) or -public-ip to the public address.", addr, reached)
	}
	return ""
}
