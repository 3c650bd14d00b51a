package turn

import (
	"encoding/hex"
	"fmt"
	"net"
	"runtime"
	"strings"
	"time"
)

// check validates o and derives what the relay needs beyond the sockets.
func (o *Options) check() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: "+format, append([]any{errBadOptions}, args...)...)
	}
	switch {
	case o.ListeningPort < 0 || o.ListeningPort > 65535 || o.TLSListeningPort < 0 || o.TLSListeningPort > 65535:
		return bad("listening-port and tls-listening-port must be within 0-65535")
	case o.MinPort < 1 || o.MaxPort > 65535 || o.MinPort > o.MaxPort:
		return bad("min-port %d / max-port %d is not a range within 1-65535", o.MinPort, o.MaxPort)
	case o.NoUDP && o.NoTCP && (o.NoTLS || o.Cert == ""):
		return bad("no-udp and no-tcp leave no listener (and no TLS without cert)")
	case (o.Cert == "") != (o.PKey == ""):
		return bad("cert and pkey go together")
	case o.StunOnly && o.NoStun:
		return bad("stun-only and no-stun exclude each other")
	case len(o.StaticAuthSecrets) > 0 && !o.UseAuthSecret:
		return bad("static-auth-secret needs use-auth-secret")
	case o.UseAuthSecret && len(o.StaticAuthSecrets) == 0:
		return bad("use-auth-secret needs at least one static-auth-secret")
	case !o.StunOnly && !o.UseAuthSecret && len(o.Users) == 0:
		return bad("no authentication: set use-auth-secret with static-auth-secret, or user= (lt-cred-mech)")
	case len(o.RelayIPs) > 1:
		return bad("one relay-ip is supported, got %d", len(o.RelayIPs))
	case o.Prometheus && (o.PrometheusPort < 1 || o.PrometheusPort > 65535):
		return bad("prometheus-port %d", o.PrometheusPort)
	case o.UDPSockets < 0 || o.UDPSockets > 256 || o.SocketBuffer < 0:
		return bad("udp-sockets must be within 0-256 and socket-buffer positive")
	}
	if o.AltListeningIP != "" {
		alt, one := net.ParseIP(o.AltListeningIP), len(o.ListeningIPs) == 1
		if alt == nil || alt.To4() == nil || !one || net.ParseIP(o.ListeningIPs[0]).To4() == nil ||
			net.ParseIP(o.ListeningIPs[0]).IsUnspecified() || alt.Equal(net.ParseIP(o.ListeningIPs[0])) || o.NoUDP || o.NoStun {
			return bad("alt-listening-ip %q needs one concrete IPv4 listening-ip that differs from it, UDP and STUN", o.AltListeningIP)
		}
	}
	if o.AltListeningPort < 0 || o.AltListeningPort > 65535 || o.AltListeningPort != 0 && o.AltListeningPort == o.ListeningPort {
		return bad("alt-listening-port %d", o.AltListeningPort)
	}
	for _, ip := range o.ListeningIPs {
		if net.ParseIP(ip) == nil {
			return bad("listening-ip %q is not an IP address", ip)
		}
	}
	c := Config{RelayPortMin: o.MinPort, RelayPortMax: o.MaxPort, Realm: o.Realm, STUNOnly: o.StunOnly, NoSTUN: o.NoStun}
	if c.Realm == "" {
		c.Realm = "switchboard"
	}
	if err := o.ApplyPolicy(&c); err != nil {
		return Config{}, err
	}
	for _, s := range o.StaticAuthSecrets {
		if len(s) < 16 {
			return bad("static-auth-secret must be at least 16 characters")
		}
		c.Secrets = append(c.Secrets, []byte(s))
	}
	for _, u := range o.Users {
		user, err := parseStaticUser(u)
		if err != nil {
			return Config{}, err
		}
		c.Users = append(c.Users, user)
	}
	if len(o.RelayIPs) == 1 {
		if ip := net.ParseIP(o.RelayIPs[0]); ip == nil || ip.To4() == nil {
			return bad("relay-ip %q is not an IPv4 address", o.RelayIPs[0])
		}
		c.RelayBindAddress = o.RelayIPs[0]
	}
	if c.RelayBindAddress == "" && len(o.ListeningIPs) > 0 {
		// As coturn: relay on the listening address unless told otherwise.
		if ip := net.ParseIP(o.ListeningIPs[0]); ip.To4() != nil && !ip.IsUnspecified() {
			c.RelayBindAddress = ip.String()
		}
	}
	if o.ExternalIP != "" {
		public, private, hasPrivate := strings.Cut(o.ExternalIP, "/")
		if c.PublicIP = net.ParseIP(public); c.PublicIP == nil || c.PublicIP.IsUnspecified() {
			return bad("external-ip %q: %q is not a concrete IP address", o.ExternalIP, public)
		}
		if hasPrivate {
			if net.ParseIP(private) == nil {
				return bad("external-ip %q: %q is not an IP address", o.ExternalIP, private)
			}
			if c.RelayBindAddress == "" {
				c.RelayBindAddress = private
			}
		}
	} else if c.RelayBindAddress != "" && !net.ParseIP(c.RelayBindAddress).IsUnspecified() {
		c.PublicIP = net.ParseIP(c.RelayBindAddress)
	} else if len(o.ListeningIPs) > 0 && !net.ParseIP(o.ListeningIPs[0]).IsUnspecified() {
		c.PublicIP = net.ParseIP(o.ListeningIPs[0])
	} else {
		c.PublicIP = FirstPublicIPv4()
	}
	return c, nil
}

// parseStaticUser reads coturn's user=NAME:PASSWORD or NAME:0xKEY (the hex
// MD5 of name:realm:password, as turnadmin -k prints it).
func parseStaticUser(s string) (StaticUser, error) {
	name, secret, ok := strings.Cut(s, ":")
	if !ok || name == "" || secret == "" {
		return StaticUser{}, fmt.Errorf("%w: user %q is not NAME:PASSWORD or NAME:0xKEY", errBadOptions, s)
	}
	if hexKey, isKey := strings.CutPrefix(secret, "0x"); isKey {
		key, err := hex.DecodeString(hexKey)
		if err != nil || len(key) != 16 {
			return StaticUser{}, fmt.Errorf("%w: user %q: key is not 32 hex digits", errBadOptions, name)
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
	"user-quota", "total-quota", "max-bps", "bps-capacity", "denied-peer-ip", "allowed-peer-ip",
	"allow-loopback-peers", "no-multicast-peers", "stale-nonce", "max-credential-validity",
	"tcp-idle-timeout", "max-conns-per-ip", "udp-sockets", "socket-buffer", "auth-rate", "auth-burst",
}

// ApplyPolicy copies the relay policy (quotas, bandwidth, peer lists,
// nonce and connection limits) into c: the part of Options the standalone
// and the bundled relay share.
func (o *Options) ApplyPolicy(c *Config) error {
	if o.StaleNonce < 1 {
		return fmt.Errorf("%w: stale-nonce must be at least 1 second", errBadOptions)
	}
	c.NonceLifetime = time.Duration(o.StaleNonce) * time.Second
	c.MaxCredentialValidity, c.TCPIdleTimeout, c.MaxConnsPerIP = o.MaxCredentialValidity, o.TCPIdleTimeout, o.MaxConnsPerIP
	if o.AuthRate < 0 || o.AuthBurst < 0 {
		return fmt.Errorf("%w: auth-rate and auth-burst must be positive", errBadOptions)
	}
	c.AuthRate, c.AuthBurst = float64(o.AuthRate), o.AuthBurst
	_, c.RelaySocketBuffer = o.SocketSettings()
	c.RelaySocketBuffer = min(c.RelaySocketBuffer, 1<<20) // one per allocation: keep the cap modest
	c.UserQuota, c.TotalQuota, c.MaxBPS, c.BPSCapacity = o.UserQuota, o.TotalQuota, o.MaxBPS, o.BPSCapacity
	c.AllowPrivatePeers = c.AllowPrivatePeers || o.AllowPrivatePeers
	c.AllowLoopbackPeers = o.AllowLoopbackPeers
	c.DeniedPeers, c.AllowedPeers = nil, nil
	for _, spec := range o.DeniedPeerIPs {
		r, err := ParseAddrRange(spec)
		if err != nil {
			return fmt.Errorf("%w: denied-peer-ip: %w", errBadOptions, err)
		}
		c.DeniedPeers = append(c.DeniedPeers, r)
	}
	for _, spec := range o.AllowedPeerIPs {
		r, err := ParseAddrRange(spec)
		if err != nil {
			return fmt.Errorf("%w: allowed-peer-ip: %w", errBadOptions, err)
		}
		c.AllowedPeers = append(c.AllowedPeers, r)
	}
	return nil
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
