package turn

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"time"
)

// Validate reports every problem of the options at once (errors.Join),
// each naming the FILE:LINE of the keys involved when they came from a
// config file.
func (o *Options) Validate() error {
	_, err := o.check()
	return err
}

// problems collects what check finds.
type problems struct {
	o    *Options
	errs []error
}

// add records one problem about keys.
func (p *problems) add(keys []string, format string, args ...any) {
	var at []string
	for _, k := range keys {
		if where, ok := p.o.lines[k]; ok && !contains(at, where) {
			at = append(at, where)
		}
	}
	msg := fmt.Sprintf(format, args...)
	if len(at) > 0 {
		msg = strings.Join(at, ", ") + ": " + msg
	}
	p.errs = append(p.errs, fmt.Errorf("%w: %s", errBadOptions, msg))
}

func keys(k ...string) []string { return k }

// check validates o and derives what the relay needs beyond the sockets.
func (o *Options) check() (Config, error) {
	p := &problems{o: o}
	if o.ListeningPort < 0 || o.ListeningPort > 65535 || o.TLSListeningPort < 0 || o.TLSListeningPort > 65535 {
		p.add(keys("listening-port", "tls-listening-port"), "listening-port and tls-listening-port must be within 0-65535")
	}
	if o.MinPort < 1 || o.MaxPort > 65535 || o.MinPort > o.MaxPort {
		p.add(keys("min-port", "max-port"), "min-port %d / max-port %d is not a range within 1-65535", o.MinPort, o.MaxPort)
	}
	if o.NoUDP && o.NoTCP && (o.NoTLS || o.Cert == "") {
		p.add(keys("no-udp", "no-tcp", "no-tls"), "no-udp and no-tcp leave no listener (and no TLS without cert)")
	}
	if (o.Cert == "") != (o.PKey == "") {
		p.add(keys("cert", "pkey"), "cert and pkey go together")
	}
	if o.StunOnly && o.NoStun {
		p.add(keys("stun-only", "no-stun"), "stun-only and no-stun exclude each other")
	}
	switch {
	case len(o.StaticAuthSecrets) > 0 && !o.UseAuthSecret:
		p.add(keys("static-auth-secret"), "static-auth-secret needs use-auth-secret")
	case o.UseAuthSecret && len(o.StaticAuthSecrets) == 0:
		p.add(keys("use-auth-secret"), "use-auth-secret needs at least one static-auth-secret")
	case !o.StunOnly && !o.UseAuthSecret && len(o.Users) == 0:
		p.add(nil, "no authentication: set use-auth-secret with static-auth-secret, or user= (lt-cred-mech)")
	}
	if len(o.RelayIPs) > 1 {
		p.add(keys("relay-ip"), "one relay-ip is supported, got %d", len(o.RelayIPs))
	}
	if o.Prometheus && (o.PrometheusPort < 1 || o.PrometheusPort > 65535) {
		p.add(keys("prometheus-port"), "prometheus-port %d", o.PrometheusPort)
	}
	if o.UDPSockets < 0 || o.UDPSockets > 256 || o.SocketBuffer < 0 {
		p.add(keys("udp-sockets", "socket-buffer"), "udp-sockets must be within 0-256 and socket-buffer positive")
	}
	o.checkAlt(p)
	for _, ip := range o.ListeningIPs {
		if net.ParseIP(ip) == nil {
			p.add(keys("listening-ip="+ip), "listening-ip %q is not an IP address", ip)
		}
	}
	for _, ig := range o.ignored {
		if c := ignoredKeys[ig.Key].conflict; c != nil {
			if msg := c(o); msg != "" {
				p.add(keys(ig.Key), "%s", msg)
			}
		}
	}
	c := Config{RelayPortMin: o.MinPort, RelayPortMax: o.MaxPort, Realm: o.Realm, STUNOnly: o.StunOnly, NoSTUN: o.NoStun}
	if c.Realm == "" {
		c.Realm = "switchboard"
	}
	o.applyPolicy(p, &c)
	for _, s := range o.StaticAuthSecrets {
		if len(s) < 16 {
			p.add(keys("static-auth-secret="+s), "static-auth-secret must be at least 16 characters")
			continue
		}
		c.Secrets = append(c.Secrets, []byte(s))
	}
	for _, u := range o.Users {
		user, err := parseStaticUser(u)
		if err != nil {
			p.add(keys("user="+u), "%v", err)
			continue
		}
		c.Users = append(c.Users, user)
	}
	o.derivePublicIP(p, &c)
	if len(p.errs) > 0 {
		return Config{}, errors.Join(p.errs...)
	}
	return c, nil
}

// checkAlt validates the RFC 5780 keys.
func (o *Options) checkAlt(p *problems) {
	if o.AltListeningIP != "" {
		alt, one := net.ParseIP(o.AltListeningIP), len(o.ListeningIPs) == 1
		if alt == nil || alt.To4() == nil || !one || net.ParseIP(o.ListeningIPs[0]).To4() == nil ||
			net.ParseIP(o.ListeningIPs[0]).IsUnspecified() || alt.Equal(net.ParseIP(o.ListeningIPs[0])) || o.NoUDP || o.NoStun {
			p.add(keys("alt-listening-ip", "listening-ip"),
				"alt-listening-ip %q needs one concrete IPv4 listening-ip that differs from it, UDP and STUN", o.AltListeningIP)
		}
	}
	if o.AltListeningPort < 0 || o.AltListeningPort > 65535 || o.AltListeningPort != 0 && o.AltListeningPort == o.ListeningPort {
		p.add(keys("alt-listening-port"), "alt-listening-port %d", o.AltListeningPort)
	}
}

// derivePublicIP sets where relays bind and the address they advertise.
func (o *Options) derivePublicIP(p *problems, c *Config) {
	if len(o.RelayIPs) == 1 {
		if ip := net.ParseIP(o.RelayIPs[0]); ip == nil || ip.To4() == nil {
			p.add(keys("relay-ip"), "relay-ip %q is not an IPv4 address", o.RelayIPs[0])
		} else {
			c.RelayBindAddress = o.RelayIPs[0]
		}
	}
	if c.RelayBindAddress == "" && len(o.ListeningIPs) > 0 {
		// As coturn: relay on the listening address unless told otherwise.
		if ip := net.ParseIP(o.ListeningIPs[0]); ip.To4() != nil && !ip.IsUnspecified() {
			c.RelayBindAddress = ip.String()
		}
	}
	switch {
	case o.ExternalIP != "":
		public, private, hasPrivate := strings.Cut(o.ExternalIP, "/")
		if c.PublicIP = net.ParseIP(public); c.PublicIP == nil || c.PublicIP.IsUnspecified() {
			p.add(keys("external-ip"), "external-ip %q: %q is not a concrete IP address", o.ExternalIP, public)
		}
		if hasPrivate {
			if net.ParseIP(private) == nil {
				p.add(keys("external-ip"), "external-ip %q: %q is not an IP address", o.ExternalIP, private)
			} else if c.RelayBindAddress == "" {
				c.RelayBindAddress = private
			}
		}
	case c.RelayBindAddress != "" && !net.ParseIP(c.RelayBindAddress).IsUnspecified():
		c.PublicIP = net.ParseIP(c.RelayBindAddress)
	case len(o.ListeningIPs) > 0 && net.ParseIP(o.ListeningIPs[0]) != nil && !net.ParseIP(o.ListeningIPs[0]).IsUnspecified():
		c.PublicIP = net.ParseIP(o.ListeningIPs[0])
	default:
		c.PublicIP = FirstPublicIPv4()
	}
}

// parseStaticUser reads coturn's user=NAME:PASSWORD or NAME:0xKEY (the hex
// MD5 of name:realm:password, as turnadmin -k prints it).
func parseStaticUser(s string) (StaticUser, error) {
	name, secret, ok := strings.Cut(s, ":")
	if !ok || name == "" || secret == "" {
		return StaticUser{}, fmt.Errorf("user %q is not NAME:PASSWORD or NAME:0xKEY", s)
	}
	if hexKey, isKey := strings.CutPrefix(secret, "0x"); isKey {
		key, err := hex.DecodeString(hexKey)
		if err != nil || len(key) != 16 {
			return StaticUser{}, fmt.Errorf("user %q: key is not 32 hex digits", name)
		}
		return StaticUser{Name: name, Key: key}, nil
	}
	return StaticUser{Name: name, Password: secret}, nil
}

// FirstPublicIPv4 picks the first up, non-loopback IPv4 address, else
// 127.0.0.1: on a laptop that is the LAN address, reachable by browsers on
// the same network and by tabs on the same machine.
func FirstPublicIPv4() net.IP {
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLinkLocalUnicast() {
				return ipn.IP.To4()
			}
		}
	}
	return net.IPv4(127, 0, 0, 1).To4()
}

// BundledKeys are the options the relay inside `switchboard` takes too, as
// -turn-KEY flags with SWITCHBOARD_TURN_KEY twins: the relay policy, not
// the listeners (the bundled relay has its own -turn address flag).
var BundledKeys = []string{
	"user-quota", "source-quota", "total-quota", "max-bps", "bps-capacity", "denied-peer-ip", "allowed-peer-ip",
	"allow-loopback-peers", "no-multicast-peers", "stale-nonce", "max-credential-validity",
	"tcp-idle-timeout", "max-conns-per-ip", "udp-sockets", "socket-buffer", "auth-rate", "auth-burst",
}

// ApplyPolicy copies the relay policy (quotas, bandwidth, peer lists,
// nonce and connection limits) into c: the part of Options the standalone
// and the bundled relay share. It reports every problem at once.
func (o *Options) ApplyPolicy(c *Config) error {
	p := &problems{o: o}
	o.applyPolicy(p, c)
	return errors.Join(p.errs...)
}

func (o *Options) applyPolicy(p *problems, c *Config) {
	if o.StaleNonce < 1 {
		p.add(keys("stale-nonce"), "stale-nonce must be at least 1 second")
	}
	if !o.NoMulticastPeers {
		p.add(keys("no-multicast-peers"), "multicast peers are always denied: no-multicast-peers=false is not supported")
	}
	c.NonceLifetime = time.Duration(o.StaleNonce) * time.Second
	c.MaxCredentialValidity, c.TCPIdleTimeout, c.MaxConnsPerIP = o.MaxCredentialValidity, o.TCPIdleTimeout, o.MaxConnsPerIP
	if o.AuthRate < 0 || o.AuthBurst < 0 {
		p.add(keys("auth-rate", "auth-burst"), "auth-rate and auth-burst must be positive")
	}
	c.AuthRate, c.AuthBurst = float64(o.AuthRate), o.AuthBurst
	_, c.RelaySocketBuffer = o.SocketSettings()
	c.RelaySocketBuffer = min(c.RelaySocketBuffer, 1<<20) // one per allocation: keep the cap modest
	if o.UserQuota < -1 || o.SourceQuota < -1 || o.TotalQuota < -1 {
		p.add(keys("user-quota", "source-quota", "total-quota"), "user-quota, source-quota and total-quota must be a count, or 0 or -1 for unlimited")
	}
	if o.MaxBPS < 0 || o.BPSCapacity < 0 {
		p.add(keys("max-bps", "bps-capacity"), "max-bps and bps-capacity must be a rate, or 0 for unlimited")
	}
	// Config's 0 is the derived default: Set stores an explicit 0 as -1.
	c.UserQuota, c.SourceQuota, c.TotalQuota = o.UserQuota, o.SourceQuota, o.TotalQuota
	c.MaxBPS, c.BPSCapacity = o.MaxBPS, o.BPSCapacity
	if c.UserQuota == 0 {
		c.UserQuota = -1 // coturn's user-quota=0 is unlimited; Config's 0 is its default
	}
	c.AllowPrivatePeers = c.AllowPrivatePeers || o.AllowPrivatePeers
	c.AllowLoopbackPeers = o.AllowLoopbackPeers
	c.DeniedPeers, c.AllowedPeers = nil, nil
	for _, spec := range o.DeniedPeerIPs {
		r, err := ParseAddrRange(spec)
		if err != nil {
			p.add(keys("denied-peer-ip="+spec), "denied-peer-ip: %v", err)
			continue
		}
		c.DeniedPeers = append(c.DeniedPeers, r)
	}
	for _, spec := range o.AllowedPeerIPs {
		r, err := ParseAddrRange(spec)
		if err != nil {
			p.add(keys("allowed-peer-ip="+spec), "allowed-peer-ip: %v", err)
			continue
		}
		c.AllowedPeers = append(c.AllowedPeers, r)
	}
}

// SocketSettings returns how many UDP sockets to bind per address and the
// buffer each asks for, defaults filled in.
func (o *Options) SocketSettings() (sockets, buffer int) {
	sockets, buffer = o.UDPSockets, o.SocketBuffer
	if sockets == 0 {
		sockets = runtime.NumCPU()
	}
	if buffer == 0 {
		buffer = defaultSocketBuffer
	}
	return sockets, buffer
}
