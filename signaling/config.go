package signaling

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/switchboard-rtc/switchboard/signaling/engine"
)

// Config tunes the signaling server. Zero values take the documented
// defaults; New rejects values that make no sense.
type Config struct {
	// AllowedOrigins lists browser origins (scheme://host[:port]) allowed
	// besides the server's own. "*" allows any origin and must be asked for
	// on purpose. Requests without an Origin header (non-browser clients)
	// are allowed. Defaults to none: same-origin only.
	AllowedOrigins []string
	// PublicURLs are the origins (scheme://host[:port]) the server is
	// served under. Their hosts, localhost and IP addresses are the Host
	// headers it answers (others get 421 bad_host, which defeats DNS
	// rebinding), and pages from them may connect. Defaults to none:
	// localhost and IP addresses only.
	PublicURLs []string
	// MaxMessageSize is the largest frame a client may send; a larger one
	// closes the connection with 1009. Defaults to 64 KiB.
	MaxMessageSize int64
	// RateLimit is the sustained number of frames per second a session may
	// send, RateBurst the bucket size. Defaults to 50/s and 100.
	RateLimit float64
	RateBurst int
	// ByteRate is the sustained number of bytes per second a session may
	// send, every frame counted (control and continuation frames too),
	// ByteBurst the bucket size. A WebSocket over it is read more slowly
	// (TCP pushes back on the sender); a POST over it is refused. The
	// default, 32 KiB/s and 256 KiB, lets even 8 members sending flat out
	// not outrun a member reading at 256 KB/s.
	ByteRate  int
	ByteBurst int
	// BodyTimeout bounds reading a request body (408 past it). Defaults
	// to 10 s.
	BodyTimeout time.Duration
	// MaxPeersPerRoom caps room size. Defaults to 16.
	MaxPeersPerRoom int
	// PingInterval is how often the server pings an idle connection; it is
	// announced to clients as "heartbeat". Defaults to 20 s, below the 60 s
	// idle cut of common proxies.
	PingInterval time.Duration
	// PongTimeout is how long after a missed ping the connection is
	// dropped; a parked one at its next heartbeat after that. Defaults to
	// 10 s.
	PongTimeout time.Duration
	// WriteTimeout bounds one write to a client. Defaults to 10 s.
	WriteTimeout time.Duration
	// ReplayEvents and ReplayBytes bound each session's replay buffer:
	// the events kept for a resume, including those not yet sent. When
	// unsent events alone pass a bound the client is too slow (attached:
	// close 1008 slow_consumer) or gone too long (detached), and the
	// session ends. Default to 1024 events and 1 MiB.
	ReplayEvents int
	ReplayBytes  int
	// ResumeGrace is how long a session without a channel keeps its room
	// and collects events for a resume. Defaults to 30 s.
	ResumeGrace time.Duration
	// ResendWait is how long a session waits for a relay it refused
	// unavailable (a cluster's Redis did not answer) to come again under
	// its cseq, refusing the client's newer numbered frames meanwhile so
	// that they do not overtake it; each refusal of the relay starts the
	// wait anew. Clients back off well within it (the bundled ones at
	// most 2 s); one that never sends the frame again is held up no
	// longer. Defaults to 5 s.
	ResendWait time.Duration
	// SSEMaxAge ends each server-sent event stream after this long, so no
	// proxy holds it forever; EventSource reconnects and resumes by
	// itself. Defaults to 30 s.
	SSEMaxAge time.Duration
	// PollWait is how long a long-poll is held when there is nothing to
	// send. Defaults to 25 s.
	PollWait time.Duration
	// WSMaxAge closes WebSockets older than this (checked once per
	// PingInterval) with 4000 "resume", so load balancers can be drained.
	// Zero, the default, keeps them open.
	WSMaxAge time.Duration
	// MaxSessions caps live sessions on this node; past it new ones are
	// refused before any upgrade with 503 server_full. Defaults to what
	// the file descriptor limit allows, less a reserve that keeps
	// /healthz, /metrics and the relay working at the cap.
	MaxSessions int
	// MaxSessionsPerAddr caps live sessions per client source (429
	// too_many_sessions; see SourcePrefixV4). Defaults to 500: an office
	// behind one NAT fits.
	MaxSessionsPerAddr int
	// MaxConnsPerAddr caps the connections net/http holds per client
	// source (see Server.ConnState): requests that never finish cannot
	// hold every descriptor. A connection over it is closed unanswered.
	// Defaults to twice MaxSessionsPerAddr and 64 more (a tab holds about
	// two), at most a quarter of MaxSessions.
	MaxConnsPerAddr int
	// SourcePrefixV4 and SourcePrefixV6 say which client addresses count
	// as one source for every per-address limit (sessions, joins, echo
	// peers): one IPv6 host commonly holds a whole /64, so counting
	// addresses would give it 2^64 quotas. Default to 32 and 64.
	SourcePrefixV4 int
	SourcePrefixV6 int
	// MaxBufferedBytes caps the bytes of events every session's replay
	// buffer holds together in this node's memory. Past it the sessions
	// holding the most unacknowledged bytes are ended with close 1008
	// over_budget, largest first, never one within its fair share of the
	// budget. Defaults to a quarter of the memory the process may use
	// (its cgroup's limit, else the machine's), at least 64 MiB; 1 GiB
	// where that is unknown.
	MaxBufferedBytes int64
	// JoinRatePerAddr and JoinBurstPerAddr bound joins per client address
	// (rate_limited past them), which makes guessing room names slow.
	// Default to 10/s and 50.
	JoinRatePerAddr  float64
	JoinBurstPerAddr int
	// RoomJoinRate and RoomJoinBurst bound joins per room, and with them
	// the membership events each member gets. Default to 5/s and 10.
	RoomJoinRate  float64
	RoomJoinBurst int
	// TrustedProxies are the proxies whose X-Forwarded-For or Forwarded
	// headers name the client. Defaults to none: the socket's address is
	// the client's.
	TrustedProxies []netip.Prefix
	// JoinSecret, when set, closes rooms to anyone without a join token:
	// an HS256 JWT signed with it by the application's backend, naming
	// the room (or a prefix ending in "*") and an expiry. Nil, the
	// default, leaves rooms open, as a demo needs.
	JoinSecret []byte
	// ICEServers hands out STUN servers in welcome and TURN credentials
	// in joined and GET /v1/ice-servers; the zero value hands out none.
	ICEServers ICEProvider
	// Echo, when set, answers the echo request: it brings a peer of the
	// server's own into the requester's room for a pre-call test. Nil,
	// the default, answers echo_off.
	Echo EchoStarter
	// TURNPool, when set, adds a host of a pool of external relays: by
	// room, so that every peer of a room uses the same one (in joined and
	// /v1/ice-servers; welcome, before any room, has the STUN of the
	// session's).
	TURNPool *TURNPool
	// KeepSessions makes Shutdown keep the sessions for the next process
	// instead of ending them: channels close with 4000 resume, as when
	// they drop, and Snapshot reports the sessions for Restore. It needs
	// an engine that is an engine.Persister and not Shared (the default
	// engine is one); a Shared engine hands its sessions over anyway.
	// Off by default: Shutdown ends sessions (1001 shutdown).
	KeepSessions bool
	// Engine keeps rooms and sessions: engine.Memory for one node (the
	// default, bounded by MaxPeersPerRoom, ReplayEvents and ReplayBytes),
	// a Redis engine (package engine/redis) for a cluster, whose own
	// configuration bounds rooms and logs.
	Engine engine.Engine
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 64 << 10
	}
	if c.RateLimit == 0 {
		c.RateLimit = 50
	}
	if c.RateBurst == 0 {
		c.RateBurst = 100
	}
	if c.ByteRate == 0 {
		c.ByteRate = 32 << 10
	}
	if c.ByteBurst == 0 {
		c.ByteBurst = 256 << 10
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = 10 * time.Second
	}
	if c.MaxPeersPerRoom == 0 {
		c.MaxPeersPerRoom = 16
	}
	if c.PingInterval == 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.PongTimeout == 0 {
		c.PongTimeout = 10 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.ReplayEvents == 0 {
		c.ReplayEvents = 1024
	}
	if c.ReplayBytes == 0 {
		c.ReplayBytes = 1 << 20
	}
	if c.ResendWait == 0 {
		c.ResendWait = 5 * time.Second
	}
	if c.ResumeGrace == 0 {
		c.ResumeGrace = 30 * time.Second
	}
	if c.SSEMaxAge == 0 {
		c.SSEMaxAge = 30 * time.Second
	}
	if c.PollWait == 0 {
		c.PollWait = 25 * time.Second
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = defaultMaxSessions()
	}
	if c.MaxSessionsPerAddr == 0 {
		c.MaxSessionsPerAddr = 500
	}
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = max(16, min(2*c.MaxSessionsPerAddr+64, c.MaxSessions/4))
	}
	if c.SourcePrefixV4 == 0 {
		c.SourcePrefixV4 = 32
	}
	if c.SourcePrefixV6 == 0 {
		c.SourcePrefixV6 = 64
	}
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = defaultBufferBudget()
	}
	if c.JoinRatePerAddr == 0 {
		c.JoinRatePerAddr = 10
	}
	if c.JoinBurstPerAddr == 0 {
		c.JoinBurstPerAddr = 50
	}
	if c.RoomJoinRate == 0 {
		c.RoomJoinRate = 5
	}
	if c.RoomJoinBurst == 0 {
		c.RoomJoinBurst = 10
	}
	if c.Engine == nil {
		c.Engine = engine.NewMemory(engine.MemoryConfig{MaxPeers: c.MaxPeersPerRoom,
			Limits: engine.ReplayLimits{Events: c.ReplayEvents, Bytes: c.ReplayBytes}})
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	switch {
	case c.MaxMessageSize < 1024:
		return fmt.Errorf("%w: MaxMessageSize %d is below 1 KiB", errBadConfig, c.MaxMessageSize)
	case !(c.RateLimit > 0) || c.RateBurst < 1: // !(x > 0) also catches NaN
		return fmt.Errorf("%w: RateLimit must be positive and RateBurst at least 1", errBadConfig)
	case c.ByteRate < 1024 || int64(c.ByteBurst) < c.MaxMessageSize:
		return fmt.Errorf("%w: ByteRate must be at least 1 KiB/s and ByteBurst hold one MaxMessageSize frame", errBadConfig)
	case c.BodyTimeout < 0:
		return fmt.Errorf("%w: BodyTimeout must not be negative", errBadConfig)
	case c.MaxPeersPerRoom < 2:
		return fmt.Errorf("%w: MaxPeersPerRoom %d is below 2", errBadConfig, c.MaxPeersPerRoom)
	case c.PongTimeout < 0 || c.WriteTimeout < 0:
		return fmt.Errorf("%w: timeouts must be positive", errBadConfig)
	case c.PingInterval < heartbeatSlots*time.Millisecond:
		return fmt.Errorf("%w: PingInterval %v is under %v", errBadConfig, c.PingInterval, heartbeatSlots*time.Millisecond)
	case c.ReplayBytes < int(c.MaxMessageSize)+1024 || c.ReplayEvents < 16:
		return fmt.Errorf("%w: the replay buffer must hold at least 16 events and one MaxMessageSize frame", errBadConfig)
	case c.ResumeGrace < 0 || c.SSEMaxAge < time.Second || c.PollWait < 0 || c.WSMaxAge < 0 || c.ResendWait < 0:
		return fmt.Errorf("%w: ResumeGrace, PollWait, WSMaxAge and ResendWait must not be negative, SSEMaxAge at least 1 s", errBadConfig)
	}
	if c.MaxSessions < 1 || c.MaxSessionsPerAddr < 1 || c.MaxConnsPerAddr < 1 || !(c.JoinRatePerAddr > 0) || c.JoinBurstPerAddr < 1 ||
		!(c.RoomJoinRate > 0) || c.RoomJoinBurst < 1 {
		return fmt.Errorf("%w: session caps and join rates must be positive", errBadConfig)
	}
	if c.SourcePrefixV4 < 8 || c.SourcePrefixV4 > 32 || c.SourcePrefixV6 < 32 || c.SourcePrefixV6 > 128 {
		return fmt.Errorf("%w: SourcePrefixV4 must be 8-32 and SourcePrefixV6 32-128", errBadConfig)
	}
	if c.MaxBufferedBytes < int64(c.ReplayBytes) {
		return fmt.Errorf("%w: MaxBufferedBytes %d is below one session's ReplayBytes %d", errBadConfig, c.MaxBufferedBytes, c.ReplayBytes)
	}
	if _, ok := c.Engine.(engine.Persister); c.KeepSessions && (!ok || c.Engine.Shared()) {
		return fmt.Errorf("%w: KeepSessions needs a single-node engine that is an engine.Persister", errBadConfig)
	}
	if c.JoinSecret != nil && len(c.JoinSecret) < 32 {
		return fmt.Errorf("%w: JoinSecret must be at least 32 bytes (HS256 wants a key as long as its hash)", errBadConfig)
	}
	for _, o := range c.PublicURLs {
		if !validOrigin(o) {
			return fmt.Errorf("%w: public URL %q is not scheme://host[:port]", errBadConfig, o)
		}
	}
	for _, o := range c.AllowedOrigins {
		if o != "*" && !validOrigin(o) {
			return fmt.Errorf("%w: allowed origin %q is not scheme://host[:port]", errBadConfig, o)
		}
	}
	return nil
}
