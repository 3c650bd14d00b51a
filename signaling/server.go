package signaling

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// Server is the signaling service. Mount Handler on an HTTP server, and
// call Shutdown before exiting.
type Server struct {
	cfg      Config
	engine   engine.Engine
	metrics  *metrics
	log      *slog.Logger
	upgrader *websocket.Upgrader
	parker   *parker[*wsConn] // nil: every WebSocket keeps a reader goroutine
	watcher  *parker[watched] // nil: a client's close is noticed at the heartbeat
	// overLimit refuses frames over the rate limit, unread; one value, so
	// that the WebSocket can tell it apart and answer a flood sparingly.
	overLimit *wire.Error

	mu        sync.Mutex
	sessions  map[string]*session // live on this node, by id
	perAddr   sessionCounts       // live sessions by client address
	addrJoins *keyedLimiters[netip.Addr]
	roomJoins *keyedLimiters[string]
	nextSlot  int32
	// The connections net/http holds (conns.go), under connMu.
	connMu        sync.Mutex
	conns         map[net.Conn]netip.Addr // by connection: its source
	connsBySource map[netip.Addr]int
	orphaned      map[string]bool // remote addresses whose request came with the client's hang-up

	// overBudget wakes enforceBudget (memory_budget.go); it holds one.
	overBudget chan struct{}
	closing    bool
	stop       chan struct{}  // closed by Shutdown
	wg         sync.WaitGroup // every goroutine the server starts
}

// New builds a server from cfg; zero fields take their defaults.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:           cfg,
		engine:        cfg.Engine,
		log:           cfg.Logger,
		sessions:      make(map[string]*session),
		perAddr:       sessionCounts{max: cfg.MaxSessionsPerAddr, counts: make(map[netip.Addr]int)},
		addrJoins:     newKeyedLimiters[netip.Addr](cfg.JoinRatePerAddr, cfg.JoinBurstPerAddr),
		roomJoins:     newKeyedLimiters[string](cfg.RoomJoinRate, cfg.RoomJoinBurst),
		stop:          make(chan struct{}),
		overBudget:    make(chan struct{}, 1),
		conns:         make(map[net.Conn]netip.Addr),
		connsBySource: make(map[netip.Addr]int),
		orphaned:      make(map[string]bool),
	}
	s.overLimit = wire.NewError(wire.CodeRateLimited, "more than %g frames/s (burst %d); frames dropped unread", cfg.RateLimit, cfg.RateBurst)
	s.metrics = newMetrics(cfg.Registerer, cfg.Engine)
	s.upgrader = s.newUpgrader()
	p, err := newParker(func(c *wsConn) {
		s.wg.Add(1) // run is counted: the count is not zero
		go c.readLoop()
	})
	if err != nil {
		s.log.Warn("idle WebSockets keep a goroutine each", "err", err)
	}
	w, _ := newParker(func(c watched) { c.peerClosed() })
	if w != nil {
		s.watcher = w
		s.wg.Go(w.run)
	}
	if p != nil {
		s.parker = p
		s.wg.Go(p.run)
	}
	s.wg.Add(2)
	go s.heartbeat()
	go s.enforceBudget()
	return s, nil
}

// Handler serves the protocol's HTTP endpoints under /v1/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ws", s.tracked(s.serveWS))
	mux.HandleFunc("GET /v1/sse", s.tracked(s.serveSSE))
	mux.HandleFunc("GET /v1/poll", s.tracked(s.servePoll))
	mux.HandleFunc("POST /v1/send", s.tracked(s.serveSend))
	mux.HandleFunc("GET /v1/ice-servers", s.serveICEServers)
	return s.GuardHost(s.BodyDeadline(mux))
}

// BodyDeadline returns h with a deadline on request bodies: a request
// that declares one must deliver it within Config.BodyTimeout, whatever
// the endpoint, before a handler reads it or net/http reads what is left
// of it to reuse the connection (which it does without a deadline of its
// own). Without it a request that declares a body and never sends it
// holds its connection, and a descriptor, for as long as the client
// likes. Serve the whole site through it, as Handler does /v1/.
func (s *Server) BodyDeadline(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
		}
		h.ServeHTTP(w, r)
	})
}

// tracked counts h's run in the server's goroutines, so that Shutdown
// waits for it and every goroutine it starts is counted before the
// count can reach zero. Requests after Shutdown began get 503.
func (s *Server) tracked(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			s.httpError(w, r, http.StatusServiceUnavailable, wire.NewError(wire.CodeShutdown, "%s", closeMessages[wire.CodeShutdown]))
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		h(w, r)
	}
}

// Shutdown ends every session, closing WebSockets with 1001 "shutdown",
// and waits for their goroutines until ctx ends. New sessions are refused
// from the start. In a cluster the sessions are handed over instead:
// WebSockets close with 4000 "resume", and the clients resume on another
// node within their grace period. With Config.KeepSessions they are kept
// for the next process (Snapshot), their channels closed with 4000
// "resume" too.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		close(s.stop)
	}
	s.closing = true
	open := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		open = append(open, sess)
	}
	s.mu.Unlock()
	if s.engine.Shared() {
		// In a cluster the sessions live on: their clients resume on
		// another node, and their peers notice nothing.
		for _, sess := range open {
			sess.Release(wire.CodeResume)
		}
		if err := s.engine.HandOver(); err != nil {
			s.log.Warn("sessions not handed over: they wait for this node's heartbeat to run out", "err", err)
		}
	} else if s.cfg.KeepSessions {
		// The next process restores them (keep.go): their clients
		// resume there, and their peers notice nothing.
		now := time.Now()
		for _, sess := range open {
			sess.suspend(now)
		}
	} else {
		for _, sess := range open {
			s.endSession(sess, wire.CodeShutdown)
		}
	}
	// Parked WebSockets read on in goroutines; ending their sessions
	// has shut their sockets.
	// Watched streams and polls end with their sessions.
	s.watcher.close()
	for _, c := range s.parker.close() {
		s.wg.Add(1)
		go c.readLoop()
	}
	// Requests still waiting for a body would hold the stop until their
	// deadline.
	s.endHeldRequests()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// stopping reports whether Shutdown has begun.
func (s *Server) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// Ready reports whether the server can take joins and relays: an error
// while a cluster's Redis is out of reach. It backs /readyz.
func (s *Server) Ready() error { return s.engine.Ready() }

// serveICEServers hands fresh ICE credentials to a session in a room, so
// a long call can renew them before they expire. Only a session's token
// proves the caller is a peer, and only a room makes it one that calls:
// without either anyone could mint TURN credentials and hold the relay's
// ports (issue 18).
func (s *Server) serveICEServers(w http.ResponseWriter, r *http.Request) {
	sess := s.authorize(w, r)
	if sess == nil {
		return
	}
	sess.mu.Lock()
	room := sess.room
	sess.mu.Unlock()
	if room == "" {
		s.httpError(w, r, http.StatusForbidden, wire.NewError(wire.CodeNotInRoom,
			"TURN credentials are handed out only to a session in a room: join one (its joined event carries them), then ask again"))
		return
	}
	resp := wire.ICEServersResponse{ICEServers: []wire.ICEServer{}}
	if servers, ttl := s.roomServers(sess.id, room); len(servers) > 0 {
		resp.ICEServers, resp.TTL = servers, int(ttl.Seconds())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(resp)
}

// authorize checks a request made for a session: its origin, and the
// session's token as Authorization: Bearer. It answers refusals itself and
// then returns nil.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) *session {
	if !s.originAllowed(r) {
		s.refuseOrigin(w, r)
		return nil
	}
	var sess *session
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		var err error
		if sess, err = s.sessionFor(token, s.clientSource(r)); err != nil {
			s.httpError(w, r, http.StatusServiceUnavailable, errUnavailable("lookup of your session"))
			return nil
		}
	}
	if sess == nil {
		s.httpError(w, r, http.StatusUnauthorized, wire.NewError(wire.CodeUnauthorized, "send the welcome token as Authorization: Bearer <token>"))
	}
	return sess
}

func (s *Server) refuseOrigin(w http.ResponseWriter, r *http.Request) {
	s.httpError(w, r, http.StatusForbidden, wire.NewError(wire.CodeBadOrigin, "origin %q is not allowed", wire.Truncate(r.Header.Get("Origin"), 128)))
}

// httpError answers r with e. A refusal also closes an HTTP/1
// connection: a client refused for its address, its token or its
// request's shape gets no kept-alive socket to hold. A poll's ending
// (409, 410) is no refusal, and HTTP/2 streams share their connection.
func (s *Server) httpError(w http.ResponseWriter, r *http.Request, status int, e *wire.Error) {
	s.metrics.errors.WithLabelValues(e.Code).Inc()
	if r.ProtoMajor == 1 && status != http.StatusConflict && status != http.StatusGone {
		w.Header().Set("Connection", "close")
		if r.ContentLength != 0 {
			// net/http would read the body's rest before closing: the
			// connection is let go as soon as the answer is out.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now())
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(wire.ErrorFrame{Type: "error", Code: e.Code, Message: e.Message})
}
