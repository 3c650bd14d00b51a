package signaling

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TURNPoolConfig configures a pool of external STUN/TURN hosts (for
// example `switchboard turn` instances) that share the REST API secret.
type TURNPoolConfig struct {
	// Hosts are host:port, each serving STUN and TURN on UDP and TCP.
	Hosts []string
	// Mint makes REST API credentials for user; required.
	Mint func(user string) (username, password string, ttl time.Duration)
	// Check probes a host (a STUN Binding request); required. A host that
	// fails it leaves the pool until it passes again.
	Check func(ctx context.Context, host string) error
	// Interval between health checks; defaults to 5 s. Timeout bounds
	// each; defaults to 1 s.
	Interval time.Duration
	Timeout  time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// TURNPool hands out one host of the pool per key, by rendezvous hashing
// over the healthy hosts: keyed by room, every peer of a room uses the
// same relay.
type TURNPool struct {
	cfg     TURNPoolConfig
	healthy atomic.Pointer[[]engine.Node]
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// NewTURNPool checks every host once, then keeps checking them until
// Close.
func NewTURNPool(cfg TURNPoolConfig) (*TURNPool, error) {
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Hosts) == 0 || cfg.Mint == nil || cfg.Check == nil || cfg.Interval < 0 || cfg.Timeout < 0 {
		return nil, fmt.Errorf("%w: a TURN pool needs hosts, Mint, Check and positive durations", errBadConfig)
	}
	for _, h := range cfg.Hosts {
		if _, _, err := net.SplitHostPort(h); err != nil {
			return nil, fmt.Errorf("%w: TURN host %q is not host:port", errBadConfig, h)
		}
	}
	p := &TURNPool{cfg: cfg, stop: make(chan struct{})}
	p.checkAll()
	p.wg.Add(1)
	go p.run()
	return p, nil
}

// Close stops the health checks.
func (p *TURNPool) Close() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}

func (p *TURNPool) run() {
	defer p.wg.Done()
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.checkAll()
		}
	}
}

// checkAll probes every host at once and keeps those that answered,
// logging each host that leaves or rejoins the pool.
func (p *TURNPool) checkAll() {
	ok := make([]bool, len(p.cfg.Hosts))
	var wg sync.WaitGroup
	for i, h := range p.cfg.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
			defer cancel()
			ok[i] = p.cfg.Check(ctx, h) == nil
		}()
	}
	wg.Wait()
	was := map[string]bool{}
	if old := p.healthy.Load(); old != nil {
		for _, n := range *old {
			was[n.ID] = true
		}
	}
	healthy := make([]engine.Node, 0, len(ok))
	for i, h := range p.cfg.Hosts {
		if ok[i] {
			healthy = append(healthy, engine.Node{ID: h})
		}
		if old := p.healthy.Load(); old != nil && ok[i] != was[h] {
			p.cfg.Logger.Warn("TURN pool host changed", "host", h, "healthy", ok[i])
		}
	}
	p.healthy.Store(&healthy)
}

// healthyHosts lists the hosts that answered the last check.
func (p *TURNPool) healthyHosts() []string {
	nodes := *p.healthy.Load()
	hosts := make([]string, len(nodes))
	for i, n := range nodes {
		hosts[i] = n.ID
	}
	return hosts
}

// STUN returns the STUN server of key's host: none while no host is
// healthy.
func (p *TURNPool) STUN(key string) []wire.ICEServer {
	host := engine.Place(*p.healthy.Load(), key).ID
	if host == "" {
		return nil
	}
	return []wire.ICEServer{{URLs: []string{"stun:" + host}}}
}

// Servers returns the ICE servers of key's host with credentials for
// user; none while no host is healthy.
func (p *TURNPool) Servers(key, user string) ([]wire.ICEServer, time.Duration) {
	host := engine.Place(*p.healthy.Load(), key).ID
	if host == "" {
		return nil, 0
	}
	username, password, ttl := p.cfg.Mint(user)
	return []wire.ICEServer{
		{URLs: []string{"stun:" + host}},
		{URLs: []string{"turn:" + host + "?transport=udp", "turn:" + host + "?transport=tcp"}, Username: username, Credential: password},
	}, ttl
}
