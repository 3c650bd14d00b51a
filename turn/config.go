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
	// UDP and TCP carry STUN/TURN from clients; at least one is required.
	UDP net.PacketConn
	TCP net.Listener
	// PublicIP is the address written into relay candidates and ICE URLs.
	// Required.
	PublicIP net.IP
	// RelayBindAddress is where relay sockets are opened. Defaults to
	// "0.0.0.0".
	RelayBindAddress string
	// RelayPortMin and RelayPortMax bound relay ports (inclusive).
	// Default to 49152-65535.
	RelayPortMin, RelayPortMax int
	// Secret is the shared secret of the TURN REST API scheme. Required.
	Secret []byte
	// CredentialTTL is how long minted credentials stay valid. Defaults to
	// 1 hour.
	CredentialTTL time.Duration
	// Realm defaults to "switchboard".
	Realm string
	// AllowPrivatePeers turns off the filter that keeps clients from
	// relaying into loopback, private, link-local and other non-public
	// ranges. Leave it off on any server reachable from the Internet.
	AllowPrivatePeers bool
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
	if c.Realm == "" {
		c.Realm = "switchboard"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	switch {
	case c.UDP == nil && c.TCP == nil:
		return fmt.Errorf("%w: no UDP socket or TCP listener", errBadConfig)
	case c.PublicIP == nil || c.PublicIP.IsUnspecified():
		return fmt.Errorf("%w: PublicIP must be a concrete address", errBadConfig)
	case len(c.Secret) == 0:
		return fmt.Errorf("%w: Secret is empty", errBadConfig)
	case c.RelayPortMin < 1 || c.RelayPortMax > 65535 || c.RelayPortMin > c.RelayPortMax:
		return fmt.Errorf("%w: relay ports %d-%d are not a range within 1-65535", errBadConfig, c.RelayPortMin, c.RelayPortMax)
	case c.CredentialTTL < time.Minute:
		return fmt.Errorf("%w: CredentialTTL %v is under a minute", errBadConfig, c.CredentialTTL)
	case net.ParseIP(c.RelayBindAddress) == nil:
		return fmt.Errorf("%w: RelayBindAddress %q is not an IP address", errBadConfig, c.RelayBindAddress)
	}
	return nil
}
