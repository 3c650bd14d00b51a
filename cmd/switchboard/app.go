package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-rtc/switchboard/cmd/switchboard/internal/memtrim"
	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/state"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
	"github.com/switchboard-rtc/switchboard/turn"
	"github.com/switchboard-rtc/switchboard/web"
)

var errShutdownTimeout = errors.New("graceful shutdown timed out")

// readHeaderTimeout bounds how long a client may take to send its request
// headers.
const readHeaderTimeout = 10 * time.Second

// listeners are bound before run so tests can pass 127.0.0.1:0 sockets.
type listeners struct {
	http net.Listener
	// state is the state file, taken after http and before the relay's
	// sockets (restart.go); nil: sessions end with the process.
	state   *state.File
	turnUDP []net.PacketConn // empty with turnTCP nil: no bundled relay
	turnTCP net.Listener
	turnAlt []net.PacketConn // RFC 5780's three further sockets (-turn-alt-ip)
	altAddr *net.UDPAddr
}

// listen binds what run serves on. The relay's sockets come after the
// state file is taken: while a previous process runs on it, they are
// still that process's.
func listen(ctx context.Context, c *config, log *slog.Logger) (ls listeners, err error) {
	if ls.http, err = listenHTTP(c); err != nil {
		return ls, err
	}
	if ls.state, err = takeStateFile(ctx, c, log); err != nil {
		ls.http.Close()
		return ls, err
	}
	if c.TURNAddr == "" {
		return ls, nil
	}
	sockets, buffer := c.TURN.SocketSettings()
	if ls.turnUDP, err = turn.ListenUDP("udp", c.TURNAddr, sockets, buffer, slog.Default()); err != nil {
		ls.close()
		return ls, err
	}
	if ls.turnTCP, err = net.Listen("tcp", c.TURNAddr); err == nil && c.TURNAltIP != "" {
		err = ls.listenAlt(c, buffer)
	}
	if err != nil {
		ls.close()
		return ls, err
	}
	return ls, nil
}

// listenAlt binds RFC 5780's further sockets: -turn's address on the next
// port, and -turn-alt-ip on both ports (as coturn's alt-listening-ip).
func (ls *listeners) listenAlt(c *config, buffer int) error {
	primary := ls.turnUDP[0].LocalAddr().(*net.UDPAddr)
	altPort := primary.Port + 1
	for _, a := range []*net.UDPAddr{
		{IP: primary.IP, Port: altPort},
		{IP: net.ParseIP(c.TURNAltIP), Port: primary.Port},
		{IP: net.ParseIP(c.TURNAltIP), Port: altPort},
	} {
		conns, err := turn.ListenUDP("udp4", a.String(), 1, buffer, slog.Default())
		if err != nil {
			return fmt.Errorf("RFC 5780 socket: %w", err)
		}
		ls.turnAlt = append(ls.turnAlt, conns[0])
		ls.altAddr = a
	}
	return nil
}

// close releases what listen bound, after a failure part-way.
func (ls *listeners) close() {
	if ls.http != nil {
		ls.http.Close()
	}
	if ls.state != nil {
		ls.state.Close()
	}
	if ls.turnTCP != nil {
		ls.turnTCP.Close()
	}
	for _, pc := range append(ls.turnUDP, ls.turnAlt...) {
		pc.Close()
	}
}

// run serves until ctx ends, then shuts down within c.ShutdownTimeout.
func run(ctx context.Context, c *config, ls listeners, log *slog.Logger, reload <-chan struct{}) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var certs *turn.CertReloader
	var share *turn.SharedTLS // the HTTPS port carries TURN over TLS too
	if c.TLSCert != "" {
		var err error
		if certs, err = turn.NewCertReloader(c.TLSCert, c.TLSKey); err != nil {
			return err
		}
		if len(ls.turnUDP) > 0 {
			share = turn.ShareTLS(ls.http, certs.TLSConfig())
			defer share.Close()
		}
	}
	var relay *turn.Server
	if len(ls.turnUDP) > 0 {
		tc := turn.Config{
			UDP: ls.turnUDP, TCP: []net.Listener{ls.turnTCP}, AltUDP: ls.turnAlt, AltAddr: ls.altAddr,
			TLSName:           tlsName(c),
			PublicIP:          c.publicIP,
			RelayBindAddress:  c.RelayBind,
			RelayPortMin:      c.relayMin,
			RelayPortMax:      c.relayMax,
			Secrets:           [][]byte{[]byte(c.TURNSecret)},
			CredentialTTL:     c.CredentialTTL,
			AllowPrivatePeers: c.AllowPrivatePeers,
			Logger:            log.With("component", "turn"),
			Registerer:        reg,
		}
		if share != nil {
			tc.TLS = []net.Listener{share.TURN()}
		}
		if err := c.TURN.ApplyPolicy(&tc); err != nil {
			return err
		}
		var err error
		if relay, err = turn.NewServer(tc); err != nil {
			return err
		}
		defer relay.Close()
	}

	eng, stopRedis, err := clusterEngine(ctx, c, log)
	if err != nil {
		return err
	}
	defer stopRedis()
	pool, err := turnPool(c, log)
	if err != nil {
		return err
	}
	if pool != nil {
		defer pool.Close()
	}

	echoPeers, err := startEcho(c, ls, relay, reg, log)
	if err != nil {
		return err
	}
	var echoStarter signaling.EchoStarter // stays a nil interface without -echo
	if echoPeers != nil {
		defer echoPeers.Close()
		echoStarter = echoPeers
	}

	sig, err := signaling.New(signaling.Config{
		AllowedOrigins:     c.origins(),
		PublicURLs:         c.publicURLs(),
		MaxMessageSize:     int64(c.MaxMessageSize),
		RateLimit:          c.RateLimit,
		RateBurst:          c.RateBurst,
		ByteRate:           c.ByteRate,
		ByteBurst:          c.ByteBurst,
		MaxPeersPerRoom:    c.RoomSize,
		ResumeGrace:        c.ResumeGrace,
		ReplayEvents:       c.ReplayEvents,
		ReplayBytes:        c.ReplayBytes,
		SSEMaxAge:          c.SSEMaxAge,
		PollWait:           c.PollWait,
		WSMaxAge:           c.WSMaxAge,
		JoinSecret:         c.joinSecret(),
		MaxSessions:        c.MaxSessions,
		MaxSessionsPerAddr: c.MaxSessionsPerIP,
		MaxConnsPerAddr:    c.MaxConnsPerIP,
		SourcePrefixV4:     c.SourcePrefixV4,
		SourcePrefixV6:     c.SourcePrefixV6,
		MaxBufferedBytes:   c.MaxBufferedBytes,
		JoinRatePerAddr:    c.JoinRate,
		JoinBurstPerAddr:   c.JoinBurst,
		RoomJoinRate:       c.RoomJoinRate,
		RoomJoinBurst:      c.RoomJoinBurst,
		TrustedProxies:     c.trustedProxies,
		ICEServers:         iceServers(relay),
		TURNPool:           pool,
		Echo:               echoStarter,
		Engine:             eng,
		KeepSessions:       ls.state != nil,
		Logger:             log.With("component", "signaling"),
		Registerer:         reg,
	})
	if err != nil {
		return err
	}
	if ls.state != nil {
		restoreSessions(sig, ls.state, c.ResumeGrace, log)
	}

	mux := http.NewServeMux()
	// Pages on -allowed-origins may use every channel, and import the
	// JavaScript client from web.ClientPath.
	mux.Handle("/v1/", web.CORS(c.origins(), sig.Handler()))
	mux.Handle(web.ClientPath, web.ClientHandler(c.origins()))
	if c.MetricsAddr == "" {
		mux.Handle("GET /metrics", localOnly(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	} else {
		_, stopMetrics, err := serveMetrics(c.MetricsAddr, reg, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := sig.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	})
	page := web.Handler()
	if c.Redis != "" {
		page = web.ClusterHandler() // the page follows its room to another node
	}
	mux.Handle("/", page)
	hs := &http.Server{
		// Every endpoint checks Host (a DNS rebinding page on this
		// machine could otherwise read /metrics) and bounds bodies.
		Handler:           sig.GuardHost(sig.BodyDeadline(mux)),
		ConnState:         sig.ConnState, // -max-conns-per-ip, and a stop that ends held requests
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	switch {
	case share != nil:
		// HTTPS, WSS and TURN over TLS on one port: TLS ends in share,
		// which hands HTTP on (HTTP/2 included) and TURN to the relay.
		hs.TLSConfig = share.TLSConfig()
		hs.ConnContext = turn.ConnContext
		hs.Handler = turn.RestoreTLS(hs.Handler)
		go reloadOnSignal(ctx, reload, certs, log)
		go func() { served <- hs.Serve(share.HTTP()) }()
	case certs != nil:
		// HTTPS and WSS from the binary itself; HTTP/2 comes with it,
		// which lifts browsers' six-connection limit for event streams.
		hs.TLSConfig = certs.TLSConfig()
		go reloadOnSignal(ctx, reload, certs, log)
		go func() { served <- hs.ServeTLS(ls.http, "", "") }()
	default:
		go func() { served <- hs.Serve(ls.http) }()
	}
	if c.MemoryTrim {
		trimmer, err := memtrim.New(memtrim.Config{Logger: log.With("component", "memtrim"), Registerer: reg})
		if err != nil {
			return err
		}
		trimCtx, stopTrim := context.WithCancel(ctx)
		trimmed := make(chan struct{})
		go func() { defer close(trimmed); _ = trimmer.Run(trimCtx) }()
		defer func() { stopTrim(); <-trimmed }()
	}
	if c.PprofAddr != "" {
		_, stopPprof, err := servePprof(c.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	attrs := []any{"http", ls.http.Addr().String(), "public_ip", c.publicIP.String()}
	if ls.state != nil {
		attrs = append(attrs, "state_file", ls.state.Path())
	}
	if relay != nil {
		attrs = append(attrs, "turn", ls.turnUDP[0].LocalAddr().String(), "turn_udp_sockets", len(ls.turnUDP), "relay_ports", c.RelayPorts)
	}
	log.Info("switchboard started", attrs...)
	log.Info("open the demo page in two browser tabs", "url", pageURL(ls.http.Addr(), c.TLSCert != ""))
	if relay != nil {
		for _, w := range advertiseWarnings(ls.turnUDP[0].LocalAddr(), c.publicIP, c.AllowPrivatePeers, thisHost(ctx)) {
			log.Warn(w)
		}
	}
	if len(c.publicURLs()) == 0 {
		log.Info("no -public-url: answering localhost and IP addresses only; set it to serve under a domain name")
	}
	if relay != nil && c.secretGenerated {
		log.Warn("no -turn-secret set: generated a random one for this run; TURN credentials will not survive a restart or work across nodes")
	}

	select {
	case err := <-served:
		sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
		defer cancel()
		err = errors.Join(fmt.Errorf("http server: %w", err), sig.Shutdown(sctx))
		if ls.state != nil {
			err = errors.Join(err, keepSessions(sig, ls.state, log))
		}
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "cause", context.Cause(ctx), "deadline", c.ShutdownTimeout)
	sctx, cancel := context.WithTimeoutCause(context.Background(), c.ShutdownTimeout, errShutdownTimeout)
	defer cancel()
	// Sessions end in parallel with the HTTP server's shutdown, which
	// waits for requests in flight: event streams and held polls end only
	// when their sessions do. The relay closes now too, not after a
	// request the HTTP server waits for: its TCP clients see EOF at once.
	if ls.state != nil {
		// Stop accepting before the channels close with 4000 resume:
		// their clients come back at once, and must reach the next
		// process (queued for it, SO_REUSEPORT), not a 503 from this one.
		_ = ls.http.Close()
	}
	sigDone := make(chan error, 1)
	go func() { sigDone <- sig.Shutdown(sctx) }()
	if relay != nil {
		_ = relay.Close()
	}
	herr := hs.Shutdown(sctx)
	if errors.Is(herr, net.ErrClosed) {
		herr = nil // the listener closed above
	}
	err = errors.Join(herr, <-sigDone)
	<-served
	if ls.state != nil {
		// Every request has ended: the sessions are as their clients
		// left them.
		err = errors.Join(err, keepSessions(sig, ls.state, log))
	}
	if err != nil {
		return err
	}
	log.Info("shutdown complete")
	return nil
}

// tlsName is the host turns: URLs name, for the certificate check: the
// first -public-url's host, else "" (the public IP).
func tlsName(c *config) string {
	for _, raw := range c.publicURLs() {
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
			if strings.Contains(u.Hostname(), ":") {
				return "[" + u.Hostname() + "]"
			}
			return u.Hostname()
		}
	}
	return ""
}

// iceServers hands each session the bundled relay's STUN URLs, and a
// session in a room its TURN URLs with its own credentials, whose
// username carries the session id.
func iceServers(relay *turn.Server) signaling.ICEProvider {
	if relay == nil {
		return signaling.ICEProvider{}
	}
	stunURLs, turnURLs := relay.URLs()
	var p signaling.ICEProvider
	if len(stunURLs) > 0 {
		p.STUN = []wire.ICEServer{{URLs: stunURLs}}
	}
	if len(turnURLs) > 0 {
		p.TURN = func(sessionID string) ([]wire.ICEServer, time.Duration) {
			user, pass, ttl := relay.Credentials(sessionID)
			return []wire.ICEServer{{URLs: turnURLs, Username: user, Credential: pass}}, ttl
		}
	}
	return p
}

// servePprof serves net/http/pprof on its own listener, apart from the
// public mux, and returns the bound address and a function that stops it.
func servePprof(addr string, log *slog.Logger) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("pprof listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	log.Info("pprof listening", "addr", ln.Addr().String())
	return ln.Addr().String(), func() { _ = srv.Close(); <-done }, nil
}

// reloadOnSignal re-reads the TLS certificate on each reload signal until
// ctx ends; sessions already up keep the one they have.
func reloadOnSignal(ctx context.Context, reload <-chan struct{}, certs *turn.CertReloader, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			if err := certs.Reload(); err != nil {
				log.Error("TLS certificate not reloaded; keeping the old one", "err", err)
			} else {
				log.Info("TLS certificate reloaded")
			}
		}
	}
}
