package turn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// defaultSocketBuffer is what each UDP socket asks the kernel for: enough
// for a burst of a few thousand datagrams while a reader is descheduled.
const defaultSocketBuffer = 4 << 20

// Standalone is the relay run on its own (switchboard turn): listeners
// from Options, an optional metrics listener, a pidfile, TLS reload and
// drain.
type Standalone struct {
	Server  *Server
	opts    *Options
	log     *slog.Logger
	udp     []net.PacketConn
	altUDP  []net.PacketConn // RFC 5780
	altAddr *net.UDPAddr
	tcp     []net.Listener
	tls     []net.Listener
	certs   *CertReloader
	https   []*http.Server
	httpWG  sync.WaitGroup
	metLn   net.Listener
	served  chan struct{} // closed once the HTTP servers are set up
}

// Signals drive a running Standalone: Reload re-reads cert/pkey (SIGHUP),
// Drain stops new allocations and exits when the last one ends (SIGUSR1).
type Signals struct {
	Reload, Drain <-chan struct{}
}

// StartStandalone binds every listener and starts the relay. It first logs
// a warning for each coturn key that was accepted and ignored.
func StartStandalone(o *Options, log *slog.Logger) (_ *Standalone, err error) {
	for _, ig := range o.Ignored() {
		log.Warn("coturn option ignored", "key", ig.Key, "at", ig.At, "instead", ig.Instead)
	}
	cfg, err := o.check()
	if err != nil {
		return nil, err
	}
	st := &Standalone{opts: o, log: log, served: make(chan struct{})}
	defer func() {
		if err != nil {
			st.closeSockets()
		}
	}()
	if err := st.listen(); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.UDP, cfg.TCP, cfg.TLS, cfg.AltUDP, cfg.AltAddr = st.udp, st.tcp, st.tls, st.altUDP, st.altAddr
	cfg.Logger, cfg.Registerer = log, reg
	if st.Server, err = NewServer(cfg); err != nil {
		return nil, err
	}
	if err := st.serveMetrics(reg); err != nil {
		pidfile := st.opts.PIDFile
		st.opts.PIDFile = "" // not written yet: leave any file there alone
		st.Close()
		st.opts.PIDFile = pidfile
		return nil, err
	}
	if o.PIDFile != "" {
		if err := os.WriteFile(o.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil { //nolint:gosec // a pidfile is public
			st.Close()
			return nil, fmt.Errorf("pidfile: %w", err)
		}
	}
	st.logStartup(cfg)
	return st, nil
}

func (st *Standalone) listen() error {
	o := st.opts
	ips := o.ListeningIPs
	if len(ips) == 0 {
		ips = []string{""}
	}
	sockets, buffer := o.SocketSettings()
	if o.Cert != "" && !o.NoTLS {
		var err error
		if st.certs, err = NewCertReloader(o.Cert, o.PKey); err != nil {
			return err
		}
	}
	for _, ip := range ips {
		suffix := ""
		if parsed := net.ParseIP(ip); parsed != nil && parsed.To4() != nil {
			suffix = "4"
		} else if parsed != nil {
			suffix = "6"
		}
		addr := net.JoinHostPort(ip, strconv.Itoa(o.ListeningPort))
		if !o.NoUDP {
			conns, err := ListenUDP("udp"+suffix, addr, sockets, buffer, st.log)
			if err != nil {
				return err
			}
			st.udp = append(st.udp, conns...)
			if o.AltListeningIP != "" {
				if err := st.listenAlt(ip, conns[0].LocalAddr().(*net.UDPAddr).Port, buffer); err != nil {
					return err
				}
			}
		}
		if !o.NoTCP {
			l, err := net.Listen("tcp"+suffix, addr)
			if err != nil {
				return err
			}
			st.tcp = append(st.tcp, l)
		}
		if st.certs != nil {
			l, err := net.Listen("tcp"+suffix, net.JoinHostPort(ip, strconv.Itoa(o.TLSListeningPort)))
			if err != nil {
				return err
			}
			st.tls = append(st.tls, tls.NewListener(l, st.certs.TLSConfig()))
		}
	}
	return nil
}

// listenAlt binds RFC 5780's three further sockets: the primary IP on the
// alternate port, and the alternate IP on both ports.
func (st *Standalone) listenAlt(primaryIP string, primaryPort, buffer int) error {
	altPort := st.opts.AltListeningPort
	if altPort == 0 && st.opts.ListeningPort != 0 {
		altPort = primaryPort + 1 // as coturn
	}
	bind := func(ip string, port int) (*net.UDPAddr, error) {
		conns, err := ListenUDP("udp4", net.JoinHostPort(ip, strconv.Itoa(port)), 1, buffer, st.log)
		if err != nil {
			return nil, fmt.Errorf("RFC 5780 socket: %w", err)
		}
		st.altUDP = append(st.altUDP, conns[0])
		return conns[0].LocalAddr().(*net.UDPAddr), nil
	}
	a, err := bind(primaryIP, altPort)
	if err != nil {
		return err
	}
	altPort = a.Port // chosen by the kernel when 0
	if _, err := bind(st.opts.AltListeningIP, primaryPort); err != nil {
		return err
	}
	alt, err := bind(st.opts.AltListeningIP, altPort)
	if err != nil {
		return err
	}
	st.altAddr = alt
	return nil
}

func (st *Standalone) serveMetrics(reg *prometheus.Registry) error {
	defer close(st.served) // st.httpWG counts the servers
	addr := st.opts.Metrics
	if addr == "" && st.opts.Prometheus {
		addr = ":" + strconv.Itoa(st.opts.PrometheusPort)
	}
	if addr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		ln, err := st.serveHTTP(addr, mux)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		st.metLn = ln
	}
	if st.opts.Pprof != "" {
		// A listener of its own, so exposing /metrics never exposes it.
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		ln, err := st.serveHTTP(st.opts.Pprof, mux)
		if err != nil {
			return fmt.Errorf("pprof listener: %w", err)
		}
		st.log.Info("listening", "transport", "pprof", "addr", ln.Addr().String())
	}
	return nil
}

func (st *Standalone) serveHTTP(addr string, h http.Handler) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	st.https = append(st.https, srv)
	st.httpWG.Add(1)
	go func() { defer st.httpWG.Done(); _ = srv.Serve(ln) }()
	return ln, nil
}

func (st *Standalone) logStartup(cfg Config) {
	for _, c := range st.udp[:min(len(st.udp), 1)] {
		st.log.Info("listening", "transport", "udp", "addr", c.LocalAddr().String(), "sockets", len(st.udp))
	}
	for _, c := range st.altUDP {
		st.log.Info("listening", "transport", "udp", "addr", c.LocalAddr().String(), "rfc5780", true)
	}
	for _, l := range st.tcp {
		st.log.Info("listening", "transport", "tcp", "addr", l.Addr().String())
	}
	for _, l := range st.tls {
		st.log.Info("listening", "transport", "tls", "addr", l.Addr().String())
	}
	if st.metLn != nil {
		st.log.Info("listening", "transport", "metrics", "addr", st.metLn.Addr().String())
	}
	bind := st.Server.cfg.RelayBindAddress
	st.log.Info("relay", "advertised", cfg.PublicIP.String(), "bind", bind,
		"ports", fmt.Sprintf("%d-%d", cfg.RelayPortMin, cfg.RelayPortMax), "stun_only", cfg.STUNOnly)
	if !isLocalAddress(cfg.PublicIP) {
		st.log.Warn("the advertised relay address is not on this host: clients reach relays only if it forwards to "+bind+
			" (behind NAT, set external-ip PUBLIC/PRIVATE)", "advertised", cfg.PublicIP.String())
	}
}

func isLocalAddress(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // cannot tell: do not cry wolf
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// AltAddr is the RFC 5780 alternate address (alternate IP and port), nil
// when RFC 5780 is off.
func (st *Standalone) AltAddr() net.Addr {
	if st.altAddr == nil {
		return nil
	}
	return st.altAddr
}

// UDPAddr, TCPAddr and TLSAddr return the first listener of each kind
// (nil when there is none); MetricsAddr the metrics listener's.
func (st *Standalone) UDPAddr() net.Addr {
	if len(st.udp) == 0 {
		return nil
	}
	return st.udp[0].LocalAddr()
}

func (st *Standalone) TCPAddr() net.Addr { return firstAddr(st.tcp) }
func (st *Standalone) TLSAddr() net.Addr { return firstAddr(st.tls) }

func (st *Standalone) MetricsAddr() net.Addr {
	if st.metLn == nil {
		return nil
	}
	return st.metLn.Addr()
}

func firstAddr(ls []net.Listener) net.Addr {
	if len(ls) == 0 {
		return nil
	}
	return ls[0].Addr()
}

// Run serves until ctx ends (then drains for at most ShutdownTimeout) or a
// drain completes, and closes everything.
func (st *Standalone) Run(ctx context.Context, sig Signals) error {
	defer st.Close()
	for {
		select {
		case <-sig.Reload:
			if st.certs == nil {
				st.log.Info("reload: no TLS certificate configured")
			} else if err := st.certs.Reload(); err != nil {
				st.log.Error("reload failed; keeping the old certificate", "err", err)
			} else {
				st.log.Info("reloaded TLS certificate", "cert", st.opts.Cert)
			}
		case <-sig.Drain:
			st.log.Info("draining: no new allocations; exiting when the last one ends", "allocations", st.Server.Allocations())
			st.Server.Drain()
			return st.Server.WaitIdle(ctx)
		case <-ctx.Done():
			st.log.Info("shutting down: draining", "cause", context.Cause(ctx), "deadline", st.opts.ShutdownTimeout,
				"allocations", st.Server.Allocations())
			st.Server.Drain()
			dctx, cancel := context.WithTimeoutCause(context.Background(), st.opts.ShutdownTimeout, errDrainTimeout)
			defer cancel()
			if err := st.Server.WaitIdle(dctx); err != nil {
				st.log.Warn("drain deadline passed; closing live allocations", "allocations", st.Server.Allocations())
			}
			return nil
		}
	}
}

// Close stops the relay, the metrics listener and removes the pidfile.
func (st *Standalone) Close() {
	if st.Server != nil {
		_ = st.Server.Close()
	} else {
		st.closeSockets()
	}
	<-st.served
	for _, srv := range st.https {
		_ = srv.Close()
	}
	st.httpWG.Wait()
	if st.opts.PIDFile != "" {
		_ = os.Remove(st.opts.PIDFile)
	}
}

func (st *Standalone) closeSockets() {
	for _, c := range append(st.udp, st.altUDP...) {
		_ = c.Close()
	}
	for _, l := range append(st.tcp, st.tls...) {
		_ = l.Close()
	}
}

var errDrainTimeout = errors.New("drain deadline passed")
