// Package turn is the relay: a TURN server (RFC 8656, on pion/turn) that
// authenticates with TURN REST API credentials or static users, refuses to
// relay into non-public networks, enforces quotas and bandwidth caps, and
// counts what it relays. A gate at the socket layer adds what pion/turn/v4
// lacks (gate.go).
package turn

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v4"
	"golang.org/x/time/rate"

	"github.com/switchboard-rtc/switchboard/stun"
)

// Server is a running relay.
type Server struct {
	cfg       Config
	publicIP  netip.Addr
	policy    *peerPolicy
	userKeys  map[string][]byte
	gate      *gate
	quotas    *quotas
	verified  verifiedKeys
	livePorts portSet
	clients   allocClients // UDP clients with an allocation (screen.go)
	fast      *fastPath    // nil: pion relays every datagram
	bindings  []*stun.Conn
	listeners []*gatedListener
	// capacityIn and capacityOut are the server-wide bps-capacity buckets.
	capacityIn, capacityOut *rate.Limiter
	turn                    *turn.Server
	draining                atomic.Bool
	refusals                sync.Map      // client address -> the 486's reason phrase (reason.go)
	deleted                 chan struct{} // an allocation ended (Drain)
	metrics                 *metrics
	log                     *slog.Logger
	closeOnce               sync.Once
	closeErr                error
}

// NewServer starts serving on the configured sockets.
func NewServer(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	publicIP, _ := netip.AddrFromSlice(cfg.PublicIP)
	s := &Server{cfg: cfg, publicIP: publicIP.Unmap(), log: cfg.Logger,
		capacityIn: newByteBucket(cfg.BPSCapacity), capacityOut: newByteBucket(cfg.BPSCapacity),
		deleted: make(chan struct{}, 1)}
	s.policy = &peerPolicy{allowPrivate: cfg.AllowPrivatePeers, allowLoopback: cfg.AllowLoopbackPeers,
		denied: cfg.DeniedPeers, allowed: cfg.AllowedPeers, self: s.publicIP}
	s.userKeys = make(map[string][]byte, len(cfg.Users))
	for _, u := range cfg.Users {
		key := u.Key
		if key == nil {
			key = turn.GenerateAuthKey(u.Name, cfg.Realm, u.Password)
		}
		s.userKeys[u.Name] = key
	}
	s.quotas = newQuotas(max(cfg.UserQuota, 0), max(cfg.SourceQuota, 0), max(cfg.TotalQuota, 0))
	s.gate = newGate(s)
	s.metrics = newMetrics(cfg.Registerer, func() float64 {
		if s.turn == nil {
			return 0
		}
		return float64(s.turn.AllocationCount())
	}, func() float64 {
		var n uint64
		for _, b := range s.bindings {
			n += b.Answered()
		}
		return float64(n)
	}, func() float64 {
		if s.fast == nil {
			return 0
		}
		return float64(s.fast.segmented.Load())
	})

	portRange := &turn.RelayAddressGeneratorPortRange{
		RelayAddress: cfg.PublicIP,
		Address:      cfg.RelayBindAddress,
		MinPort:      uint16(cfg.RelayPortMin),
		MaxPort:      uint16(cfg.RelayPortMax),
	}
	relays := &countingRelays{RelayAddressGeneratorPortRange: portRange, srv: s}
	if !cfg.STUNOnly {
		s.fast = newFastPath(s, append(append([]net.PacketConn(nil), cfg.UDP...), cfg.AltUDP...))
	}
	started := false
	defer func() {
		if !started && s.fast != nil {
			s.fast.close() // its loops' goroutines and epoll files
		}
	}()
	udpRelays := &countingRelays{RelayAddressGeneratorPortRange: portRange, srv: s, fast: s.fast}
	sc := turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.quota,
		LoggerFactory: newSlogFactory(cfg.Logger),
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(src, local net.Addr, _, _, _ string, _ net.Addr, _ int) {
				s.metrics.allocCreated.Inc()
				s.quotas.created(src, local)
				if ap := addrPortOf(src); ap.IsValid() {
					s.clients.add(ap)
				}
			},
			OnAllocationDeleted: func(src, local net.Addr, _, _, _ string) {
				s.quotas.deleted(src, local)
				if ap := addrPortOf(src); ap.IsValid() {
					s.clients.remove(ap)
				}
				select {
				case s.deleted <- struct{}{}:
				default:
				}
			},
			OnAllocationError: func(src, _ net.Addr, _, _ string) {
				if s.quotas.failed(src) {
					s.metrics.allocFailed.Inc()
				}
			},
		},
	}
	if s.fast != nil {
		sc.EventHandler.OnChannelCreated = func(src, dst net.Addr, protocol, _, _ string, relay, peer net.Addr, number uint16) {
			s.fast.channelCreated(src, dst, protocol, relay, peer, number)
		}
		sc.EventHandler.OnChannelDeleted = func(src, dst net.Addr, protocol, _, _ string, relay, peer net.Addr, number uint16) {
			s.fast.channelDeleted(src, dst, protocol, relay, peer, number)
		}
		sc.EventHandler.OnPermissionCreated = func(_, _ net.Addr, _, _, _ string, relay net.Addr, peer net.IP) {
			s.fast.permission(relay, peer, true)
		}
		sc.EventHandler.OnPermissionDeleted = func(_, _ net.Addr, _, _, _ string, relay net.Addr, peer net.IP) {
			s.fast.permission(relay, peer, false)
		}
	}
	var rfc5780 *stun.Responder
	if cfg.AltAddr != nil {
		primary, ok := cfg.UDP[0].LocalAddr().(*net.UDPAddr)
		if !ok || primary.IP.IsUnspecified() || cfg.AltAddr.IP.Equal(primary.IP) || cfg.AltAddr.Port == primary.Port {
			return nil, fmt.Errorf("%w: RFC 5780 needs a concrete primary address and an alternate differing in IP and port", errBadConfig)
		}
		rfc5780 = stun.NewResponder(primary, cfg.AltAddr)
	}
	for _, pc := range append(append([]net.PacketConn(nil), cfg.UDP...), cfg.AltUDP...) {
		gated := &gatedPacketConn{g: s.gate}
		var fwd *forwarder
		if s.fast != nil {
			fwd = s.fast.newForwarder(addrPortOf(pc.LocalAddr()))
			gated.fwd = fwd
		}
		if !cfg.NoSTUN {
			binding := stun.NewConn(pc)
			if rfc5780 != nil {
				if binding = rfc5780.Add(pc); binding == nil {
					return nil, fmt.Errorf("%w: socket %v is on none of the RFC 5780 addresses", errBadConfig, pc.LocalAddr())
				}
			}
			// Below the gate, in the batch: a batch's ChannelData leaves
			// together, and junk goes no further (screen.go).
			if fwd != nil {
				binding.Intercept(func(pkt []byte, from net.Addr) bool {
					return fwd.take(pkt, from) || s.gate.screen(pkt, from)
				}, fwd.release)
				gated.fwd = nil
			} else {
				binding.Intercept(s.gate.screen, nil)
			}
			gated.screened = true
			s.bindings = append(s.bindings, binding)
			pc = binding
		}
		gated.PacketConn = pc
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{
			PacketConn:            gated,
			RelayAddressGenerator: udpRelays, PermissionHandler: s.peerAllowed,
		})
	}
	addListeners := func(ls []net.Listener, network string) {
		for _, l := range ls {
			gl := newGatedListener(l, s.gate, network)
			s.listeners = append(s.listeners, gl)
			sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{
				Listener: gl, RelayAddressGenerator: relays, PermissionHandler: s.peerAllowed,
			})
		}
	}
	addListeners(cfg.TCP, "tcp")
	addListeners(cfg.TLS, "tls")
	srv, err := turn.NewServer(sc)
	if err != nil {
		return nil, fmt.Errorf("start turn server: %w", err)
	}
	s.turn = srv
	started = true
	return s, nil
}

// quota is pion's QuotaHandler; a refusal is answered 486.
func (s *Server) quota(username, _ string, src net.Addr) bool {
	if s.draining.Load() {
		s.metrics.allocDraining.Inc()
		s.noteRefusal(src, quotaRefusedDraining)
		return false
	}
	switch s.quotas.reserve(quotaUser(username), src) {
	case refusedSource:
		s.metrics.quotaSource.Inc()
		s.log.Debug("allocation refused: source quota", "source", sourceKey(src), "client", src)
		s.noteRefusal(src, quotaRefusedSource)
		return false
	case refusedUser:
		s.metrics.quotaUser.Inc()
		s.log.Debug("allocation refused: user quota", "user", quotaUser(username), "client", src)
		s.noteRefusal(src, quotaRefusedUser)
		return false
	case refusedTotal:
		s.metrics.quotaTotal.Inc()
		s.log.Debug("allocation refused: total quota", "client", src)
		s.noteRefusal(src, quotaRefusedTotal)
		return false
	}
	return true
}

// Credentials mints REST credentials for user with the first secret, valid
// for the configured TTL. With no secret configured it returns empty
// strings.
func (s *Server) Credentials(user string) (username, password string, ttl time.Duration) {
	if len(s.cfg.Secrets) == 0 {
		return "", "", 0
	}
	username, password = Credentials(s.cfg.Secrets[0], user, s.cfg.CredentialTTL, time.Now())
	return username, password, s.cfg.CredentialTTL
}

// URLs lists the stun: and turn: URLs clients should use, on PublicIP.
func (s *Server) URLs() (stunURLs, turnURLs []string) {
	host := s.publicIP.String()
	if s.publicIP.Is6() {
		host = "[" + host + "]"
	}
	if len(s.cfg.UDP) > 0 {
		port := portOf(s.cfg.UDP[0].LocalAddr())
		stunURLs = append(stunURLs, "stun:"+host+":"+port)
		turnURLs = append(turnURLs, "turn:"+host+":"+port+"?transport=udp")
	}
	if len(s.cfg.TCP) > 0 {
		turnURLs = append(turnURLs, "turn:"+host+":"+portOf(s.cfg.TCP[0].Addr())+"?transport=tcp")
	}
	if len(s.cfg.TLS) > 0 {
		tlsHost := host
		if s.cfg.TLSName != "" {
			tlsHost = s.cfg.TLSName
		}
		turnURLs = append(turnURLs, "turns:"+tlsHost+":"+portOf(s.cfg.TLS[0].Addr())+"?transport=tcp")
	}
	return stunURLs, turnURLs
}

// Allocations reports live allocations.
func (s *Server) Allocations() int { return s.turn.AllocationCount() }

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

// Close stops the relay, its allocations, its sockets and connections.
// Calls after the first return its error.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.turn.Close()
		if s.fast != nil {
			s.fast.close()
		}
	})
	return s.closeErr
}
