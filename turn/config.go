package turn

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config sets up a relay. The caller owns and binds the sockets, so tests
// can pass 127.0.0.1:0; the server closes them on Close.
type Config struct {
	// UDP sockets carry STUN/TURN from clients, usually several bound to
	// one port with SO_REUSEPORT (ListenUDP); TCP and TLS listeners carry
	// it over streams. At least one socket or listener is required.
	UDP []net.PacketConn
	TCP []net.Listener
	// TLS listeners already terminate TLS (tls.NewListener).
	TLS []net.Listener
	// AltUDP are the three further sockets of RFC 5780 NAT behaviour
	// discovery: (primary IP, AltAddr port), (AltAddr IP, primary port) and
	// AltAddr itself, where the primary address is UDP[0]'s. With them,
	// Binding answers carry OTHER-ADDRESS and RESPONSE-ORIGIN and honour
	// CHANGE-REQUEST. Both nil: no RFC 5780.
	AltUDP  []net.PacketConn
	AltAddr *net.UDPAddr
	// TLSName is the host name turns: URLs carry, so clients can check the
	// certificate (usually issued for a name). Defaults to PublicIP.
	TLSName string
	// PublicIP is the address written into relay candidates and ICE URLs.
	// Required.
	PublicIP net.IP
	// RelayBindAddress is where relay sockets are opened. Defaults to
	// "0.0.0.0".
	RelayBindAddress string
	// RelayPortMin and RelayPortMax bound relay ports (inclusive).
	// Default to 49152-65535.
	RelayPortMin, RelayPortMax int
	// Secrets are shared secrets of the TURN REST API scheme. Any of them
	// verifies a credential; the first mints. Secrets or Users is required.
	Secrets [][]byte
	// Users are static long-term credentials.
	Users []StaticUser
	// CredentialTTL is how long minted credentials stay valid. Defaults to
	// 1 hour.
	CredentialTTL time.Duration
	// MaxCredentialValidity refuses REST credentials whose expiry lies
	// further ahead: a leaked credential minted for a year stays leaked.
	// Defaults to 24 hours.
	MaxCredentialValidity time.Duration
	// NonceLifetime is how long a NONCE stays valid (coturn's
	// stale-nonce). Defaults to 10 minutes.
	NonceLifetime time.Duration
	// AuthRate and AuthBurst budget the 401/438 answers per source address
	// (IPv6 by /64); excess requests are dropped unanswered. Default to 10
	// per second with a burst of 40.
	AuthRate  float64
	AuthBurst int
	// TCPIdleTimeout closes a TCP/TLS connection that holds no allocation
	// after this long without a complete message. Defaults to 30 seconds.
	TCPIdleTimeout time.Duration
	// MaxConnsPerIP caps TCP/TLS connections from one address (IPv6 by
	// /64). Defaults to 64.
	MaxConnsPerIP int
	// UserQuota caps live allocations per user (for REST credentials the
	// part after the colon), SourceQuota per source address (IPv6 by /64,
	// whatever users it brings credentials of), TotalQuota server-wide
	// (coturn's total-quota). Over any, Allocate is answered 486 with a
	// reason phrase naming the quota. UserQuota defaults to 64; TotalQuota
	// to half the relay ports and SourceQuota to an eighth of them, at most
	// 256 (16,384 ports: 8,192 and 256), so the ports do not run out before
	// a quota refuses, and one source cannot take them. -1 means unlimited.
	UserQuota, SourceQuota, TotalQuota int
	// MaxBPS caps relayed payload bytes per second per allocation and
	// direction; BPSCapacity caps them for the whole server per direction.
	// 0 means unlimited, the default. Excess datagrams are dropped.
	MaxBPS, BPSCapacity int
	// RelaySocketBuffer is SO_RCVBUF/SO_SNDBUF of each relay socket; 0
	// leaves the kernel default.
	RelaySocketBuffer int
	// Realm defaults to "switchboard".
	Realm string
	// AllowPrivatePeers turns off the filter that keeps clients from
	// relaying into loopback, private, link-local and other non-public
	// ranges. Leave it off on any server reachable from the Internet.
	AllowPrivatePeers bool
	// AllowLoopbackPeers opens only the loopback ranges.
	AllowLoopbackPeers bool
	// DeniedPeers adds ranges to the built-in deny list; AllowedPeers opens
	// holes in it, and wins over DeniedPeers (as in coturn).
	DeniedPeers, AllowedPeers []AddrRange
	// STUNOnly answers STUN Binding and ignores TURN requests (coturn's
	// stun-only); no credentials are needed. NoSTUN ignores Binding.
	STUNOnly, NoSTUN bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the relay's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.RelayBindAddress == "" {
		c.RelayBindAddress = "0.0.0.0"
	}
	if c.RelayPortMin == 0 && c.RelayPortMax == 0 {
		c.RelayPortMin, c.RelayPortMax = 49152, 65535
	}
	if c.CredentialTTL == 0 {
		c.CredentialTTL = time.Hour
	}
	if c.MaxCredentialValidity == 0 {
		c.MaxCredentialValidity = 24 * time.Hour
	}
	if c.NonceLifetime == 0 {
		c.NonceLifetime = 10 * time.Minute
	}
	if c.AuthRate == 0 {
		c.AuthRate = 10
	}
	if c.AuthBurst == 0 {
		c.AuthBurst = 40
	}
	if c.TCPIdleTimeout == 0 {
		c.TCPIdleTimeout = 30 * time.Second
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = 64
	}
	if c.UserQuota == 0 {
		c.UserQuota = 64
	}
	if c.RelayPortMin <= c.RelayPortMax {
		total, perSource := defaultQuotas(c.RelayPortMax - c.RelayPortMin + 1)
		if c.TotalQuota == 0 {
			c.TotalQuota = total
		}
		if c.SourceQuota == 0 {
			c.SourceQuota = perSource
		}
	}
	if c.Realm == "" {
		c.Realm = "switchboard"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	switch {
	case len(c.UDP) == 0 && len(c.TCP) == 0 && len(c.TLS) == 0:
		return fmt.Errorf("%w: no UDP socket, TCP or TLS listener", errBadConfig)
	case c.PublicIP == nil || c.PublicIP.IsUnspecified():
		return fmt.Errorf("%w: PublicIP must be a concrete address", errBadConfig)
	case (c.AltAddr == nil) != (len(c.AltUDP) == 0), c.AltAddr != nil && (len(c.UDP) == 0 || c.NoSTUN):
		return fmt.Errorf("%w: RFC 5780 needs AltAddr, AltUDP, a UDP socket and STUN", errBadConfig)
	case c.STUNOnly && c.NoSTUN:
		return fmt.Errorf("%w: STUNOnly and NoSTUN together leave nothing to serve", errBadConfig)
	case len(c.Secrets) == 0 && len(c.Users) == 0 && !c.STUNOnly:
		return fmt.Errorf("%w: no REST secret and no static user", errBadConfig)
	case c.RelayPortMin < 1 || c.RelayPortMax > 65535 || c.RelayPortMin > c.RelayPortMax:
		return fmt.Errorf("%w: relay ports %d-%d are not a range within 1-65535", errBadConfig, c.RelayPortMin, c.RelayPortMax)
	case c.CredentialTTL < time.Minute:
		return fmt.Errorf("%w: CredentialTTL %v is under a minute", errBadConfig, c.CredentialTTL)
	case c.MaxCredentialValidity < c.CredentialTTL:
		return fmt.Errorf("%w: MaxCredentialValidity %v is shorter than CredentialTTL %v", errBadConfig, c.MaxCredentialValidity, c.CredentialTTL)
	case c.NonceLifetime < time.Second:
		return fmt.Errorf("%w: NonceLifetime %v is under a second", errBadConfig, c.NonceLifetime)
	case c.AuthRate < 0 || c.AuthBurst < 1:
		return fmt.Errorf("%w: AuthRate %v / AuthBurst %d", errBadConfig, c.AuthRate, c.AuthBurst)
	case c.TCPIdleTimeout < 0 || c.MaxConnsPerIP < 1:
		return fmt.Errorf("%w: TCPIdleTimeout %v / MaxConnsPerIP %d", errBadConfig, c.TCPIdleTimeout, c.MaxConnsPerIP)
	case c.UserQuota < -1 || c.SourceQuota < -1 || c.TotalQuota < -1 || c.MaxBPS < 0 || c.BPSCapacity < 0:
		return fmt.Errorf("%w: quotas and bandwidth caps must be positive, 0 or -1", errBadConfig)
	case net.ParseIP(c.RelayBindAddress) == nil:
		return fmt.Errorf("%w: RelayBindAddress %q is not an IP address", errBadConfig, c.RelayBindAddress)
	}
	for _, s := range c.Secrets {
		if len(s) == 0 {
			return fmt.Errorf("%w: empty secret", errBadConfig)
		}
	}
	for _, u := range c.Users {
		if u.Name == "" || u.Password == "" && len(u.Key) != 16 {
			return fmt.Errorf("%w: static user %q needs a name and a password or 16-byte key", errBadConfig, u.Name)
		}
	}
	return nil
}
