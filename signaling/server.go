package signaling

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Server is the signaling service. Mount Handler on an HTTP server, and
// call Shutdown before exiting.
type Server struct {
	cfg      Config
	router   Router
	metrics  *metrics
	log      *slog.Logger
	upgrader *websocket.Upgrader

	mu       sync.Mutex
	sessions map[string]*session // by token
	nextSlot int
	closing  bool
	stop     chan struct{}  // closed by Shutdown
	wg       sync.WaitGroup // every goroutine the server starts
}

// heartbeatSlots spreads pings over the interval, so 10,000 connections
// are not all pinged, and all given a writer goroutine, at once.
const heartbeatSlots = 32

// New builds a server from cfg; zero fields take their defaults.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		router:   cfg.Router,
		log:      cfg.Logger,
		sessions: make(map[string]*session),
		stop:     make(chan struct{}),
	}
	s.metrics = newMetrics(cfg.Registerer, cfg.Router)
	s.upgrader = s.newUpgrader()
	s.wg.Add(1)
	go s.heartbeat()
	return s, nil
}

// heartbeat pings every session once per PingInterval, one slot of them
// per tick. One goroutine for all connections costs less than a timer per
// connection, which is most of what an idle connection holds.
func (s *Server) heartbeat() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.PingInterval / heartbeatSlots)
	defer tick.Stop()
	var due []*session
	for slot := 0; ; slot = (slot + 1) % heartbeatSlots {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		s.mu.Lock()
		for _, sess := range s.sessions {
			if sess.slot == slot {
				due = append(due, sess)
			}
		}
		s.mu.Unlock()
		for i, sess := range due {
			sess.out.ping()
			due[i] = nil
		}
		due = due[:0]
	}
}

// Handler serves the protocol's HTTP endpoints under /v1/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ws", s.serveWS)
	mux.HandleFunc("GET /v1/ice-servers", s.serveICEServers)
	return mux
}

// Shutdown closes every session with 1001 "shutdown" and waits for their
// goroutines until ctx ends. New connections are refused from the start.
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
	for _, sess := range open {
		sess.out.close(websocket.CloseGoingAway, CodeShutdown)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s *Server) register(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	sess.slot = s.nextSlot
	s.nextSlot = (s.nextSlot + 1) % heartbeatSlots
	s.sessions[sess.token] = sess
	s.metrics.connections.Inc()
	return true
}

func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sess.token]; ok {
		delete(s.sessions, sess.token)
		s.metrics.connections.Dec()
	}
}

// serveICEServers hands fresh ICE credentials to a connected session, so a
// long call can renew them before they expire. Only a session's token
// proves the caller is a peer: without it anyone could mint TURN
// credentials.
func (s *Server) serveICEServers(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		s.httpError(w, http.StatusForbidden, newError(CodeBadOrigin, "origin %q is not allowed", r.Header.Get("Origin")))
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	sess := s.sessions[token]
	s.mu.Unlock()
	if !ok || sess == nil {
		s.httpError(w, http.StatusUnauthorized, newError(CodeUnauthorized, "send the welcome token as Authorization: Bearer <token>"))
		return
	}
	resp := iceServersResponse{ICEServers: []ICEServer{}}
	if s.cfg.ICEServers != nil {
		servers, ttl := s.cfg.ICEServers(sess.id)
		resp.ICEServers, resp.TTL = servers, int(ttl.Seconds())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(resp)
}

func (s *Server) httpError(w http.ResponseWriter, status int, e *Error) {
	s.metrics.errors.WithLabelValues(e.Code).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorFrame{Type: "error", Code: e.Code, Message: e.Message})
}
