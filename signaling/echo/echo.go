// Package echo is the server's echo peer for pre-call tests: asked into a
// room with the protocol's echo request, it joins over the server's own
// signaling like any client, answers the requester's offer with
// pion/webrtc, echoes every data channel message and loops audio and
// video back. It lives for a bounded time, serves only its requester, and
// is capped per client address and per server; when nobody asks, nothing
// runs.
package echo

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/signaling"
)

// Config of the echo service. Zero values take the documented defaults.
type Config struct {
	// URL is this server's WebSocket endpoint as the echo peers dial it,
	// e.g. ws://127.0.0.1:8080/v1/ws. Required.
	URL string
	// TLS for a wss:// URL.
	TLS *tls.Config
	// JoinToken returns a join token for room when rooms are closed
	// (-join-secret); nil when they are open.
	JoinToken func(room string) (string, error)
	// Lifetime bounds each echo peer. Defaults to 60 seconds.
	Lifetime time.Duration
	// MaxPeers caps echo peers server-wide. Defaults to 10.
	MaxPeers int
	// MaxPerSource caps echo peers per requesting source: the signaling
	// server hands the source masked by its -source-prefix-v4/-v6, and the
	// echo counts IPv4 sources by /24 and IPv6 by /64 at the finest (an
	// echo peer is a pre-call test: a whole /24 needs no more than one at a
	// time). Defaults to 1.
	MaxPerSource int
	// PublicIP is the one host address the echo peer offers, on whichever
	// interface holds it; the server's other interface addresses stay
	// private. Nil: no host candidate, only what the ICE servers of its
	// welcome give (server-reflexive, relay).
	PublicIP net.IP
	// PeerAllowed says which remote candidates the echo peer may send
	// connectivity checks to: a requester could otherwise name any address
	// and port, inside the server's network or not. The bundled relay's
	// peer policy (turn.Server.PeerAllowed) is the usual one. Nil: public
	// unicast addresses only.
	PeerAllowed func(netip.AddrPort) bool
	// Registerer takes the metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Lifetime <= 0 {
		c.Lifetime = time.Minute
	}
	if c.MaxPeers <= 0 {
		c.MaxPeers = 10
	}
	if c.MaxPerSource <= 0 {
		c.MaxPerSource = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PeerAllowed == nil {
		c.PeerAllowed = publicPeer
	}
}

// Echo sources count by these prefixes at the finest.
const (
	echoPrefixV4 = 24
	echoPrefixV6 = 64
)

// echoSource is the key source counts against: masking an address the
// signaling server already masked coarser changes nothing.
func echoSource(source netip.Addr) netip.Addr {
	source = source.Unmap()
	bits := echoPrefixV6
	if source.Is4() {
		bits = echoPrefixV4
	}
	if p, err := source.Prefix(bits); err == nil {
		return p.Addr()
	}
	return source
}

func (c *Config) validate() error {
	if c.URL == "" {
		return fmt.Errorf("%w: URL is required", errBadConfig)
	}
	return nil
}

// Service starts and tracks echo peers. It implements
// signaling.EchoStarter.
type Service struct {
	cfg      Config
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	active   int
	bySource map[netip.Addr]int
	outcomes *prometheus.CounterVec
}

// New returns a Service; Close stops its peers.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{cfg: cfg, ctx: ctx, cancel: cancel, bySource: make(map[netip.Addr]int),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_echo_tests_total",
			Help: "Echo peer tests by outcome: refused (cap), connected (ICE connected), failed (never connected, or an error), unused (no offer came).",
		}, []string{"outcome"})}
	for _, o := range []string{outcomeRefused, outcomeConnected, outcomeFailed, outcomeUnused} {
		s.outcomes.WithLabelValues(o)
	}
	if cfg.Registerer != nil {
		active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "switchboard_echo_peers",
			Help: "Echo peers running.",
		}, func() float64 { return float64(s.Active()) })
		for _, c := range []prometheus.Collector{s.outcomes, active} {
			if err := cfg.Registerer.Register(c); err != nil {
				cancel()
				return nil, err
			}
		}
	}
	return s, nil
}

const (
	outcomeRefused   = "refused"
	outcomeConnected = "connected"
	outcomeFailed    = "failed"
	outcomeUnused    = "unused"
)

// StartEcho implements signaling.EchoStarter.
func (s *Service) StartEcho(room, requester string, source netip.Addr, relayOnly bool) (func(), error) {
	source = echoSource(source)
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return nil, errClosed
	}
	if s.active >= s.cfg.MaxPeers || s.bySource[source] >= s.cfg.MaxPerSource {
		s.mu.Unlock()
		s.outcomes.WithLabelValues(outcomeRefused).Inc()
		return nil, signaling.ErrEchoBusy
	}
	s.active++
	s.bySource[source]++
	s.wg.Add(1)
	s.mu.Unlock()
	return func() { go s.run(room, requester, source, relayOnly) }, nil
}

// run is one echo peer's life, within Lifetime.
func (s *Service) run(room, requester string, source netip.Addr, relayOnly bool) {
	defer s.wg.Done()
	defer s.release(source)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Lifetime)
	defer cancel()
	outcome, err := runPeer(ctx, s.cfg, room, requester, relayOnly)
	if err != nil {
		s.cfg.Logger.Debug("echo peer ended", "room", room, "outcome", outcome, "err", err)
	}
	s.outcomes.WithLabelValues(outcome).Inc()
}

func (s *Service) release(source netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.bySource[source]--; s.bySource[source] <= 0 {
		delete(s.bySource, source)
	}
}

// Active reports the echo peers running.
func (s *Service) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// Close ends every echo peer and waits for them.
func (s *Service) Close() {
	s.mu.Lock()
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
}
