package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Why a relay failed, named from what the failure itself shows: a TLS
// error says which certificate problem it is, a 403 says which peer the
// relay refused, and silence at the advertised address is compared with
// the address signaling was reached at.

// elsewhereWait bounds the look for the relay at the signaling host: a
// relay on that host answers within a round trip.
const elsewhereWait = 2 * time.Second

// tlsHint names a certificate problem of a turns: URL, or "" when err is
// not one.
func tlsHint(u iceURL, err error) string {
	host, _, _ := net.SplitHostPort(u.host)
	var unknown x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		return "TURN/TLS certificate not trusted (self-signed?): clients that verify it refuse the relay. " +
			"Give the relay (cert/pkey) a certificate for " + host + " from a CA browsers trust, intermediates included; for a private CA, pass it to check with -ca-file."
	case errors.As(err, &hostErr):
		return "TURN/TLS certificate does not name " + host + ": give the relay (cert/pkey) one for the host name the turns: URL uses."
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "TURN/TLS certificate expired: renew the relay's certificate (cert/pkey) and restart it."
	case errors.As(err, &record):
		return "Something answers on " + u.host + " but does not speak TLS: the turns: URL must name the relay's tls-listening-port, not its plain TCP port."
	}
	return ""
}

// peerRefused is a 403 to CreatePermission for this machine's address.
type peerRefused struct {
	peer net.Addr
	err  error
}

func (e *peerRefused) Error() string { return fmt.Sprintf("permission for %v: %v", e.peer, e.err) }
func (e *peerRefused) Unwrap() error { return e.err }

// refusedWhy says which of the relay's peer rules refused addr.
func refusedWhy(addr net.Addr) string {
	ip := addrIP(addr)
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() {
		return fmt.Sprintf("the relay refused this machine's address %v as a peer (403 Forbidden: private peers are denied; -allow-private-peers, or allow-loopback-peers / allowed-peer-ip on switchboard turn)", addr)
	}
	return fmt.Sprintf("the relay refused this machine's address %v as a peer (403 Forbidden: its denied-peer-ip / allowed-peer-ip rules exclude it)", addr)
}

func addrIP(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}

// silentHint is the hint for an advertised address where nothing answered
// over u's transport. When the relay answers on the same port at the
// host signaling was reached at, the advertised address is the mistake,
// and the hint says so instead of blaming a closed port.
func silentHint(ctx context.Context, cfg Config, u iceURL, generic string) string {
	host, port, _ := net.SplitHostPort(u.host)
	if cfg.sigHost == "" || sameHost(ctx, host, cfg.sigHost) {
		return generic
	}
	other := u
	other.host = net.JoinHostPort(cfg.sigHost, port)
	if !answers(ctx, cfg, other) {
		return generic
	}
	return fmt.Sprintf("The server advertises %s, where nothing answers over %s, but the relay answers on the same port at %s, where signaling was reached: "+
		"the relay advertises %s, which does not reach it. Check -public-ip (external-ip on a separate relay): it must be the address clients reach the relay at.",
		u.host, u.transportName(), other.host, host)
}

// sameHost reports whether a and b name the same address (b may be a
// host name), or whether that cannot be told.
func sameHost(ctx context.Context, a, b string) bool {
	if a == b {
		return true
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, b)
	if err != nil {
		return true
	}
	for _, ip := range ips {
		if ip.IP.String() == a {
			return true
		}
	}
	return false
}

// answers reports whether a STUN or TURN server answers at u: a Binding
// over UDP, a connection over TCP.
func answers(ctx context.Context, cfg Config, u iceURL) bool {
	ctx, cancel := context.WithTimeout(ctx, min(cfg.Timeout, elsewhereWait))
	defer cancel()
	if u.transportName() != "UDP" {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.host)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	short := cfg
	short.Timeout = min(cfg.Timeout, elsewhereWait)
	client, stop, err := dialTURN(ctx, short, u, "", "")
	if err != nil {
		return false
	}
	defer stop()
	_, err = client.SendBindingRequest()
	return err == nil
}

// turnSummary is what the TURN checks found, for the call's hint.
type turnSummary struct {
	tried, allocated, reachable int
}

// callHint says why a relay-only call failed, from what the TURN checks
// found before it: a call cannot do better than its relays.
func (s turnSummary) callHint() string {
	switch {
	case s.tried == 0:
		return "No TURN URL was handed out, so no relay-only call can connect: see \"ICE servers handed out\"."
	case s.allocated == 0:
		return "No TURN check above got an allocation, so no relay-only call can connect: fix what the TURN lines above name first."
	case s.reachable == 0:
		return "The relay allocated, but nothing sent to its relayed addresses arrived (see the TURN lines above): the call needs them; fix that first."
	}
	return "Signaling and TURN each answered, yet the call could not connect through the relay: " +
		"check that the relay port range (min-port..max-port, -relay-ports) is open for UDP, that -public-ip / external-ip is the address clients reach, " +
		"and that the relay allows relaying between its own allocations."
}

// isTimeout reports a deadline that ended a read, which a caller treats
// like the end of its context.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// has403 reports a STUN error answer 403 in pion's error text.
func has403(err error) bool {
	return err != nil && strings.Contains(err.Error(), "error 403")
}
