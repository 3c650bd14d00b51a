// Package turn is the relay: a TURN server (RFC 5766, on pion/turn) that
// authenticates with short-lived TURN REST API credentials, refuses to
// relay into non-public networks and counts what it relays.
package turn

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/pion/turn/v4"
)

// Server is a running relay.
type Server struct {
	cfg      Config
	publicIP netip.Addr
	turn     *turn.Server
	metrics  *metrics
	log      *slog.Logger
}

// NewServer starts serving on the configured sockets.
func NewServer(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	publicIP, _ := netip.AddrFromSlice(cfg.PublicIP)
	s := &Server{cfg: cfg, publicIP: publicIP.Unmap(), log: cfg.Logger}
	s.metrics = newMetrics(cfg.Registerer, func() float64 {
		if s.turn == nil {
			return 0
		}
		return float64(s.turn.AllocationCount())
	})

	relays := &countingRelays{
		RelayAddressGeneratorPortRange: &turn.RelayAddressGeneratorPortRange{
			RelayAddress: cfg.PublicIP,
			Address:      cfg.RelayBindAddress,
			MinPort:      uint16(cfg.RelayPortMin),
			MaxPort:      uint16(cfg.RelayPortMax),
		},
		in: s.metrics.relayedIn, out: s.metrics.relayedOut, allowed: s.datagramAllowed,
	}
	sc := turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   s.authenticate,
		LoggerFactory: newSlogFactory(cfg.Logger),
		EventHandler: turn.EventHandler{
			// pion reports only verdicts on MESSAGE-INTEGRITY here;
			// authenticate counts the refusals that never get that far.
			OnAuth: func(_, _ net.Addr, _, _, _ string, _ string, verdict bool) {
				if verdict {
					s.metrics.authOK.Inc()
				} else {
					s.metrics.authBadPassword.Inc()
				}
			},
		},
	}
	if cfg.UDP != nil {
		sc.PacketConnConfigs = []turn.PacketConnConfig{{
			PacketConn: cfg.UDP, RelayAddressGenerator: relays, PermissionHandler: s.peerAllowed,
		}}
	}
	if cfg.TCP != nil {
		sc.ListenerConfigs = []turn.ListenerConfig{{
			Listener: cfg.TCP, RelayAddressGenerator: relays, PermissionHandler: s.peerAllowed,
		}}
	}
	srv, err := turn.NewServer(sc)
	if err != nil {
		return nil, fmt.Errorf("start turn server: %w", err)
	}
	s.turn = srv
	return s, nil
}

// authenticate checks the username's expiry and derives the long-term key
// from the shared secret; pion then verifies MESSAGE-INTEGRITY with it, so
// a wrong password fails there. pion/turn v4 answers both refusals with
// 400 Bad Request (RFC 5389 asks for 401; v5 does that).
func (s *Server) authenticate(username, realm string, src net.Addr) ([]byte, bool) {
	expiry, _, err := parseUsername(username)
	if err != nil {
		s.metrics.authBadUsername.Inc()
	} else if time.Now().After(expiry) {
		err = errExpired
		s.metrics.authExpired.Inc()
	}
	if err != nil {
		s.log.Debug("turn auth refused", "client", src, "err", err)
		return nil, false
	}
	return turn.GenerateAuthKey(username, realm, restPassword(s.cfg.Secret, username)), true
}

// Credentials mints credentials for user valid for the configured TTL.
func (s *Server) Credentials(user string) (username, password string, ttl time.Duration) {
	username, password = Credentials(s.cfg.Secret, user, s.cfg.CredentialTTL, time.Now())
	return username, password, s.cfg.CredentialTTL
}

// URLs lists the stun: and turn: URLs clients should use, on PublicIP.
func (s *Server) URLs() (stunURLs, turnURLs []string) {
	host := s.publicIP.String()
	if s.publicIP.Is6() {
		host = "[" + host + "]"
	}
	if s.cfg.UDP != nil {
		port := portOf(s.cfg.UDP.LocalAddr())
		stunURLs = append(stunURLs, "stun:"+host+":"+port)
		turnURLs = append(turnURLs, "turn:"+host+":"+port+"?transport=udp")
	}
	if s.cfg.TCP != nil {
		turnURLs = append(turnURLs, "turn:"+host+":"+portOf(s.cfg.TCP.Addr())+"?transport=tcp")
	}
	return stunURLs, turnURLs
}

func portOf(a net.Addr) string {
	switch a := a.(type) {
	case *net.UDPAddr:
		return strconv.Itoa(a.Port)
	case *net.TCPAddr:
		return strconv.Itoa(a.Port)
	}
	_, port, _ := net.SplitHostPort(a.String())
	return port
}

// Close stops the relay, its allocations and its sockets.
func (s *Server) Close() error {
	return s.turn.Close()
}
