package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	redisengine "github.com/switchboard-rtc/switchboard/signaling/engine/redis"
	"github.com/switchboard-rtc/switchboard/turn"
)

// config is everything an operator can set. Every flag has an environment
// twin: -turn-secret is SWITCHBOARD_TURN_SECRET. Flags beat the environment.
type config struct {
	HTTPAddr          string
	TURNAddr          string
	TURNSecret        string
	PublicIP          string
	RelayPorts        string
	RelayBind         string
	AllowedOrigins    string
	PublicURLs        string
	CredentialTTL     time.Duration
	RoomSize          int
	RateLimit         float64
	RateBurst         int
	MaxMessageSize    int
	ByteRate          int
	ByteBurst         int
	ResumeGrace       time.Duration
	ReplayEvents      int
	ReplayBytes       int
	SSEMaxAge         time.Duration
	PollWait          time.Duration
	WSMaxAge          time.Duration
	JoinSecret        string
	JoinSecretFile    string
	MaxSessions       int
	MaxSessionsPerIP  int
	MaxConnsPerIP     int
	SourcePrefixV4    int
	SourcePrefixV6    int
	MaxBufferedBytes  int64
	JoinRate          float64
	JoinBurst         int
	RoomJoinRate      float64
	RoomJoinBurst     int
	TrustedProxies    string
	AllowPrivatePeers bool
	LogLevel          string
	LogFormat         string
	ShutdownTimeout   time.Duration
	StateFile         string
	StateWait         time.Duration
	PprofAddr         string
	Echo              bool
	EchoMax           int
	echoLifetime      time.Duration // tests shorten it; 0: the echo package's minute
	TLSCert           string
	TLSKey            string
	MetricsAddr       string
	Redis             string
	TURNURLs          string
	TURNAltIP         string
	ShowVersion       bool
	MemoryTrim        bool
	// TURN holds the bundled relay's -turn-KEY options, the same table and
	// code as the keys of `switchboard turn -c FILE` (turn.BundledKeys).
	TURN *turn.Options

	// Derived by validate.
	trustedProxies     []netip.Prefix
	secretGenerated    bool
	relayMin, relayMax int
	publicIP           net.IP
	logLevel           slog.Level
	stateFile          string // "": sessions end with the process (restart.go)
}

var errConfig = errors.New("invalid configuration")

const envPrefix = "SWITCHBOARD_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet registers every flag into c; -help prints them with
// printFlags, and README.md's table says the same (flagdoc.go).
func newFlagSet(c *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("switchboard", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { printUsage(out, func() { printFlags(out, fs, true) }) }
	fs.BoolVar(&c.ShowVersion, "version", false, "print the version and exit")
	fs.StringVar(&c.HTTPAddr, "http", ":8080", "HTTP listen address: signaling, demo page, /metrics, /healthz")
	fs.StringVar(&c.TURNAddr, "turn", ":3478", "STUN/TURN listen address, UDP and TCP; empty disables the bundled relay")
	fs.StringVar(&c.TURNSecret, "turn-secret", "", "shared secret for TURN REST API credentials, 16+ characters")
	fs.StringVar(&c.PublicIP, "public-ip", "", "address advertised in ICE URLs and relay candidates; start-up warns when it is not this host's")
	fs.StringVar(&c.RelayPorts, "relay-ports", "49152-65535", "UDP port range for relay allocations, MIN-MAX")
	fs.StringVar(&c.RelayBind, "relay-bind", "0.0.0.0", "local address relay sockets bind to")
	fs.StringVar(&c.PublicURLs, "public-url", "", "comma-separated origins the server is served under, e.g. https://meet.example.com; other Host names are refused (DNS rebinding), localhost and IP addresses always work")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", "", "comma-separated browser origins allowed besides same-origin; * allows any")
	fs.DurationVar(&c.CredentialTTL, "credential-ttl", time.Hour, "lifetime of TURN credentials")
	fs.IntVar(&c.RoomSize, "room-size", 16, "most peers in one room")
	fs.Float64Var(&c.RateLimit, "rate-limit", 50, "frames per second one session may send")
	fs.IntVar(&c.RateBurst, "rate-burst", 100, "burst above -rate-limit")
	fs.IntVar(&c.MaxMessageSize, "max-message-size", 64<<10, "largest signaling frame in bytes; larger closes with 1009")
	fs.IntVar(&c.ByteRate, "byte-rate", 32<<10, "bytes per second one session may send, every frame counted; a WebSocket over it is read more slowly")
	fs.IntVar(&c.ByteBurst, "byte-burst", 256<<10, "burst above -byte-rate, in bytes (at least -max-message-size)")
	fs.DurationVar(&c.ResumeGrace, "resume-grace", 30*time.Second, "how long a session whose channel dropped keeps its room and buffers events for a resume")
	fs.IntVar(&c.ReplayEvents, "replay-events", 1024, "most events kept per session for a resume")
	fs.IntVar(&c.ReplayBytes, "replay-bytes", 1<<20, "most bytes of events kept per session for a resume; also the most that may wait for a slow client")
	fs.DurationVar(&c.SSEMaxAge, "sse-max-age", 30*time.Second, "longest a server-sent event stream stays open before the client reconnects and resumes")
	fs.DurationVar(&c.PollWait, "poll-wait", 25*time.Second, "longest a long-poll is held when there is nothing to send")
	fs.DurationVar(&c.WSMaxAge, "ws-max-age", 0, "close WebSockets older than this with 4000 resume, to drain load balancers (0: never)")
	fs.StringVar(&c.JoinSecret, "join-secret", "", "HS256 key (32+ bytes) that join tokens from your application must be signed with; empty leaves rooms open")
	fs.StringVar(&c.JoinSecretFile, "join-secret-file", "", "file holding the -join-secret (keeps it out of the process list)")
	fs.IntVar(&c.MaxSessions, "max-sessions", 0, "most live sessions; new ones get 503 server_full (0: what the file descriptor limit allows, less a reserve)")
	fs.IntVar(&c.MaxSessionsPerIP, "max-sessions-per-ip", 500, "most live sessions per client address (429 too_many_sessions); IPv6 addresses count by -source-prefix-v6")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", 0, "most connections the HTTP server holds per client address, requests in progress and kept-alive ones (a WebSocket or event stream counts as a session instead); past it a connection is closed unanswered. Proxies in -trusted-proxies are exempt")
	fs.IntVar(&c.SourcePrefixV4, "source-prefix-v4", 32, "IPv4 prefix length whose addresses count as one client in every per-address limit (sessions, joins, echo)")
	fs.IntVar(&c.SourcePrefixV6, "source-prefix-v6", 64, "IPv6 prefix length whose addresses count as one client in every per-address limit: one host commonly holds a /64")
	fs.Int64Var(&c.MaxBufferedBytes, "max-buffered-bytes", 0, "most bytes of events all sessions' replay buffers hold together; past it the sessions holding the most unacknowledged bytes close with 1008 over_budget)")
	fs.Float64Var(&c.JoinRate, "join-rate", 10, "joins per second per client address; guessing room names gets slow")
	fs.IntVar(&c.JoinBurst, "join-burst", 50, "burst above -join-rate")
	fs.Float64Var(&c.RoomJoinRate, "room-join-rate", 5, "joins per second into one room")
	fs.IntVar(&c.RoomJoinBurst, "room-join-burst", 10, "burst above -room-join-rate")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For/Forwarded name the client (default: none, the socket address counts)")
	fs.BoolVar(&c.AllowPrivatePeers, "allow-private-peers", false, "let TURN relay to loopback/private/link-local peers (unsafe on a public server)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.BoolVar(&c.MemoryTrim, "memory-trim", true, "once the server has been quiet for 3 s after a burst of connections, collect its garbage and give the memory back to the kernel (at most every 30 s)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long graceful shutdown may take")
	fs.StringVar(&c.StateFile, "state-file", stateFileAuto, "file a stopping node keeps its sessions in (mode 0600, token hashes only) for the next process on it to restore, so a restart ends no call; off disables. Ignored with -redis (nodes hand sessions over)")
	fs.DurationVar(&c.StateWait, "state-wait", 30*time.Second, "how long a process waits for the one running on the same -state-file to save its sessions and exit; meanwhile it holds the HTTP port (SO_REUSEPORT) and connections wait for it")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve /metrics on a listener of its own, e.g. 10.0.0.5:9464; empty: /metrics on the HTTP port answers this host only")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS and WSS with; reloaded on SIGHUP. Empty: plain HTTP (put a TLS proxy in front)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key for -tls-cert")
	fs.StringVar(&c.Redis, "redis", "", "Redis shared by several nodes: redis://[user:pass@]host:port[/db], rediss:// for TLS, ?master_name=NAME&addr=HOST:PORT for Sentinel, redis+cluster://HOST:PORT?addr=HOST:PORT for a Cluster. Several independent ones, comma-separated, are shards rooms are spread over (every node lists them in the same order). Empty: one node, everything in memory")
	fs.StringVar(&c.TURNAltIP, "turn-alt-ip", "", "a second IPv4 address of this host: the bundled relay answers RFC 5780 NAT behaviour discovery (switchboard check's NAT test) from sockets there and on -turn's port + 1; needs a concrete IPv4 in -turn")
	fs.StringVar(&c.TURNURLs, "turn-urls", "", "comma-separated host:port of external STUN/TURN relays sharing -turn-secret (e.g. 'switchboard turn' hosts): each room gets one, by consistent hashing, while it answers STUN health checks; adds to the bundled relay (-turn '' to use only these)")
	fs.BoolVar(&c.Echo, "echo", false, "run the echo peer for pre-call tests: a client in a room may ask for it with {\"type\":\"echo\"} (docs/protocol.md)")
	fs.IntVar(&c.EchoMax, "echo-max", 10, "most echo peers at once, server-wide (one per client address); each lives at most a minute")
	fs.StringVar(&c.PprofAddr, "pprof", "", "address for Go's /debug/pprof profiler, e.g. 127.0.0.1:6060 (off when empty; never expose it publicly)")
	c.TURN.RegisterFlags(fs, "turn-", turn.BundledKeys...)
	return fs
}

// parseConfig reads the environment, then args. It returns flag.ErrHelp
// after printing usage for -h/--help.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	c := &config{TURN: turn.DefaultOptions()}
	fs := newFlagSet(c, out)

	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "version" {
			return // a command, not a setting
		}
		name := envName(f.Name) // printFlags shows it
		if v := getenv(name); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%w: %s=%q: %v", errConfig, name, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errConfig, fs.Arg(0))
	}
	if c.ShowVersion {
		return c, nil // nothing else matters
	}
	return c, c.validate()
}

func (c *config) validate() error {
	var err error
	if c.EchoMax < 1 {
		return fmt.Errorf("-echo-max must be at least 1, got %d", c.EchoMax)
	}
	if c.relayMin, c.relayMax, err = parsePortRange(c.RelayPorts); err != nil {
		return err
	}
	if c.PublicIP == "" {
		c.publicIP = turn.FirstPublicIPv4()
	} else if c.publicIP = net.ParseIP(c.PublicIP); c.publicIP == nil || c.publicIP.IsUnspecified() {
		return fmt.Errorf("%w: -public-ip %q is not a concrete IP address", errConfig, c.PublicIP)
	}
	if c.TURNSecret == "" {
		c.TURNSecret, c.secretGenerated = rand.Text(), true
	} else if len(c.TURNSecret) < 16 {
		return fmt.Errorf("%w: -turn-secret must be at least 16 characters", errConfig)
	}
	if c.JoinSecretFile != "" {
		if c.JoinSecret != "" {
			return fmt.Errorf("%w: set -join-secret or -join-secret-file, not both", errConfig)
		}
		b, err := os.ReadFile(c.JoinSecretFile)
		if err != nil {
			return fmt.Errorf("%w: -join-secret-file: %v", errConfig, err)
		}
		c.JoinSecret = strings.TrimSpace(string(b))
	}
	if c.JoinSecret != "" && len(c.JoinSecret) < 32 {
		return fmt.Errorf("%w: -join-secret must be at least 32 bytes", errConfig)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("%w: set both -tls-cert and -tls-key, or neither", errConfig)
	}
	c.trustedProxies = nil
	for _, cidr := range strings.Split(c.TrustedProxies, ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return fmt.Errorf("%w: -trusted-proxies %q is not a CIDR", errConfig, cidr)
		}
		c.trustedProxies = append(c.trustedProxies, p.Masked())
	}
	if err := c.logLevel.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("%w: -log-level %q: %v", errConfig, c.LogLevel, err)
	}
	switch {
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("%w: -log-format must be text or json", errConfig)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("%w: -shutdown-timeout must be positive", errConfig)
	case c.StateWait < 0:
		return fmt.Errorf("%w: -state-wait must not be negative", errConfig)
	case net.ParseIP(c.RelayBind) == nil:
		return fmt.Errorf("%w: -relay-bind %q is not an IP address", errConfig, c.RelayBind)
	}
	if err := c.TURN.ApplyPolicy(&turn.Config{}); err != nil {
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	if c.TURNAltIP != "" {
		if err := c.validateAltIP(); err != nil {
			return err
		}
	}
	if c.TURNURLs != "" && c.secretGenerated {
		return fmt.Errorf("%w: -turn-urls needs the -turn-secret the relays share", errConfig)
	}
	for _, h := range splitList(c.TURNURLs) {
		if _, _, err := net.SplitHostPort(h); err != nil {
			return fmt.Errorf("%w: -turn-urls: %q is not host:port", errConfig, h)
		}
	}
	c.stateFile = stateFilePath(c)
	if c.Redis != "" {
		clients, err := redisengine.ParseURLs(c.Redis)
		if err != nil {
			return fmt.Errorf("%w: -redis: %v", errConfig, err)
		}
		for _, client := range clients {
			_ = client.Close() // run makes its own; this only checked the URLs
		}
	}
	return nil // the signaling and turn packages validate the rest
}

// joinSecret is nil when rooms are open.
func (c *config) joinSecret() []byte {
	if c.JoinSecret == "" {
		return nil
	}
	return []byte(c.JoinSecret)
}

func (c *config) origins() []string { return splitList(c.AllowedOrigins) }

func (c *config) publicURLs() []string {
	urls := splitList(c.PublicURLs)
	for i, u := range urls {
		urls[i] = strings.TrimSuffix(u, "/")
	}
	return urls
}

func splitList(list string) []string {
	var out []string
	for _, o := range strings.Split(list, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

func parsePortRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("%w: -relay-ports %q is not MIN-MAX within 1-65535", errConfig, s)
	}
	return lo, hi, nil
}

func newLogger(c *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// validateAltIP: RFC 5780 needs two concrete IPv4 addresses, the primary
// from -turn and a different alternate.
func (c *config) validateAltIP() error {
	alt := net.ParseIP(c.TURNAltIP)
	host, _, err := net.SplitHostPort(c.TURNAddr)
	primary := net.ParseIP(host)
	switch {
	case alt == nil || alt.To4() == nil || alt.IsUnspecified():
		return fmt.Errorf("%w: -turn-alt-ip %q is not a concrete IPv4 address", errConfig, c.TURNAltIP)
	case err != nil || primary == nil || primary.To4() == nil || primary.IsUnspecified():
		return fmt.Errorf("%w: -turn-alt-ip needs a concrete IPv4 address in -turn, got %q", errConfig, c.TURNAddr)
	case alt.Equal(primary):
		return fmt.Errorf("%w: -turn-alt-ip must differ from -turn's address", errConfig)
	}
	return nil
}
