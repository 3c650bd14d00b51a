package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Scenarios the tool runs.
const (
	scenarioIdle   = "idle"
	scenarioRelay  = "relay"
	scenarioResume = "resume"
	scenarioBurst  = "burst"
	scenarioHoard  = "hoard"
)

// How the burst scenario splits a pair's offers.
const (
	directionBoth   = "both"
	directionOneWay = "one-way"
)

// Transports the scenarios run over: the server's three channels. sse and
// poll send upstream with POST /v1/send.
const (
	transportWS   = "ws"
	transportSSE  = "sse"
	transportPoll = "poll"
)

// Room layouts for the idle scenario.
const (
	roomsPairs = "pairs" // connections 2i and 2i+1 share room "idle-i"
	roomsNone  = "none"  // connections stay in no room
)

// Bounds on -size: a frame must hold the JSON envelope and the timestamp,
// and stay below the server's default 64 KiB frame limit.
const (
	minFrameSize = 256
	maxFrameSize = 60 << 10
)

// maxSources keeps -sources within 127.0.0.2-127.0.0.254.
const maxSources = 253

// config is one run of the tool. Defaults are those of the flags below.
type config struct {
	// URL is the server's WebSocket endpoint. Defaults to
	// ws://127.0.0.1:8080/v1/ws.
	URL string
	// PeerURL, when set, is another node of a cluster (-redis) for the
	// second peer of each relay pair, so that every offer crosses nodes.
	// WebSocket relay only. Defaults to none: both peers on URL.
	PeerURL string
	// Scenario is "idle", "relay" or "resume". Defaults to relay.
	Scenario string
	// Protocol is what the WebSocket relay and burst scenarios speak:
	// "switchboard", or "peerjs" for the PeerJS server (npm package peer),
	// whose -url is then ws://host:port/peerjs. Defaults to switchboard.
	Protocol string
	// Client is how the relay and burst scenarios' WebSocket peers write
	// and read: "sbload" (pre-masked batches in one write, a prefix check
	// per read) or "gorilla" (one WriteMessage per offer, ReadMessage and
	// two JSON decodes per message, like a page's client). Defaults to
	// sbload.
	Client string
	// Transport is the channel the scenario's sessions use: "ws", "sse"
	// or "poll". The SSE and poll endpoints are found next to URL.
	// Defaults to ws.
	Transport string

	// Conns is how many connections the idle scenario opens. Defaults to
	// 10000.
	Conns int
	// Rooms is the idle layout: "pairs" or "none". Defaults to pairs.
	Rooms string

	// Pairs is how many two-peer rooms the relay scenario fills. Defaults
	// to 50.
	Pairs int
	// Rate is the total offers per second the relay scenario sends, spread
	// evenly over the connections; 0 sends flat out within Window.
	// Defaults to 0.
	Rate float64
	// Window is how many offers one connection may have in flight when
	// sending flat out; with Rate it caps one catch-up burst. Defaults
	// to 8.
	Window int
	// Size is the length of one offer frame's JSON in bytes. Defaults to
	// 1500.
	Size int

	// Offers is how many offers each pair of the burst scenario relays,
	// half in each direction, all written at once. Defaults to 300.
	Offers int
	// Direction is how the burst scenario splits a pair's offers: "both"
	// (half each way) or "one-way" (the first peer sends them all).
	// Defaults to both.
	Direction string
	// Bursts is how many bursts the burst scenario sends, one after the
	// other on the same connections. Defaults to 1.
	Bursts int

	// Duration is how long the relay scenario measures, or how long the
	// idle scenario holds its connections. Defaults to 10 s.
	Duration time.Duration
	// Warmup runs before Duration and is left out of the figures.
	// Defaults to 2 s.
	Warmup time.Duration
	// Drain is how long the relay scenario waits for in-flight offers
	// after sending stops; what is still missing then counts as lost.
	// Defaults to 2 s.
	Drain time.Duration
	// Settle is how long the idle scenario waits after the last connect
	// before it samples the server. Defaults to 2 s.
	Settle time.Duration

	// Rounds is how many times the resume scenario cuts a peer's channel
	// and resumes it. Defaults to 20.
	Rounds int
	// Events is how many offers the resume scenario sends while the
	// channel is cut. Defaults to 100.
	Events int

	// Sources spreads the idle scenario's WebSockets over this many
	// loopback source addresses, 127.0.0.2 on: one address reaches one
	// server port from about 28,000 ephemeral ports. Defaults to 0: the
	// kernel chooses.
	Sources int

	// DialConcurrency is how many connections are being set up at once.
	// Defaults to 64.
	DialConcurrency int
	// DialTimeout bounds one connection's dial, handshake, welcome and
	// join. Defaults to 10 s.
	DialTimeout time.Duration

	// ServerPID, when set, is the server process whose VmRSS the idle
	// scenario and whose CPU time the relay scenario sample from /proc
	// (Linux, same machine).
	ServerPID int
	// PerfControl, when set, is "CTL_FIFO,ACK_FIFO" of a `perf stat
	// --control fifo:CTL_FIFO,ACK_FIFO -D -1` run on the server: the burst
	// scenario enables it for each burst and disables it after, so that
	// its counts cover the bursts only. Defaults to none.
	PerfControl string
	// MetricsURL, when set, is the server's Prometheus endpoint; the idle
	// scenario reads the Go heap and stack figures from it.
	MetricsURL string

	// MaxErrors is how many errors a run tolerates before it exits
	// non-zero. Defaults to 0.
	MaxErrors int
	// JSON prints a one-line JSON summary instead of text.
	JSON bool
	// Progress prints a line per second to stderr. Defaults to on unless
	// JSON is set.
	Progress bool
	// CPUProfile, when set, is where the tool writes its own CPU profile,
	// to check that the load generator is not what limits a run.
	CPUProfile string
}

// parseConfig reads args; it returns flag.ErrHelp after printing usage for
// -h/--help.
func parseConfig(args []string, out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("sbload", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: sbload [flags]\n\nLoad generator for the switchboard signaling server. Scenarios:\n"+
			"  idle   open -conns connections, hold them for -duration, report connect rate and server memory\n"+
			"  relay  -pairs two-peer rooms exchange -size byte offers, flat out (-window) or at -rate; report msgs/s and latency\n"+
			"  burst  -pairs two-peer rooms each relay -offers offers (half each way, or -direction one-way), all written at once; report server CPU per offer\n"+
			"  resume -rounds times: cut a peer's channel, send it -events offers, resume it; report the time to the last one\n"+
			"  hoard  -pairs rooms: a sender writes -offers -size byte messages to a hoarder that never acknowledges (the replay-buffer attack);\n"+
			"         a healthy pair probes at -rate/s for -duration; report hoarders cut, server RSS, the pair's latency\n"+
			"Every scenario runs over -transport ws, sse (event stream + POST /v1/send) or poll (long-polls + POST);\n"+
			"relay and burst over ws also against a PeerJS server (-protocol peerjs), and with clients that read like a page's (-client gorilla).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.URL, "url", "ws://127.0.0.1:8080/v1/ws", "server WebSocket endpoint")
	fs.StringVar(&c.PeerURL, "peer-url", "", "relay over ws: another cluster node's endpoint for the second peer of each pair (cross-node relay)")
	fs.StringVar(&c.Scenario, "scenario", scenarioRelay, "idle, relay, burst, resume or hoard")
	fs.StringVar(&c.Transport, "transport", transportWS, "ws, sse or poll")
	fs.StringVar(&c.Protocol, "protocol", protocolSwitchboard, "relay and burst over ws: switchboard, or peerjs (-url ws://host:port/peerjs)")
	fs.StringVar(&c.Client, "client", clientSbload, "relay and burst over ws: sbload (batched raw writes, prefix-only reads) or gorilla (WriteMessage per offer, ReadMessage and two JSON decodes per message)")
	fs.IntVar(&c.Offers, "offers", 300, "burst: offers per pair, half each way (see -direction)")
	fs.StringVar(&c.Direction, "direction", directionBoth, "burst: both (half the offers each way) or one-way (the first peer of a pair sends them all)")
	fs.IntVar(&c.Bursts, "bursts", 1, "burst: bursts one after the other")
	fs.IntVar(&c.Rounds, "rounds", 20, "resume: cut-and-resume rounds")
	fs.IntVar(&c.Events, "events", 100, "resume: offers sent while the channel is cut")
	fs.IntVar(&c.Conns, "conns", 10000, "idle: connections to open")
	fs.StringVar(&c.Rooms, "rooms", roomsPairs, "idle: pairs (two connections per room) or none")
	fs.IntVar(&c.Pairs, "pairs", 50, "relay: two-peer rooms")
	fs.Float64Var(&c.Rate, "rate", 0, "relay: total offers/s spread over all connections; 0 sends flat out")
	fs.IntVar(&c.Window, "window", 8, "relay: offers in flight per connection when flat out; largest catch-up burst with -rate")
	fs.IntVar(&c.Size, "size", 1500, "relay: bytes of JSON per offer frame")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "relay: measured time; idle: how long connections are held")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "relay: time before -duration left out of the figures")
	fs.DurationVar(&c.Drain, "drain", 2*time.Second, "relay: wait for in-flight offers after sending stops")
	fs.DurationVar(&c.Settle, "settle", 2*time.Second, "idle: wait after the last connect before sampling the server")
	fs.IntVar(&c.Sources, "sources", 0, "idle over ws: spread connections over this many source addresses, 127.0.0.2 on (0: the kernel chooses)")
	fs.IntVar(&c.DialConcurrency, "dial-concurrency", 64, "connections set up at once")
	fs.DurationVar(&c.DialTimeout, "dial-timeout", 10*time.Second, "bound on one connection's dial, welcome and join")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "server process id: idle samples its VmRSS, relay its CPU time, from /proc")
	fs.StringVar(&c.PerfControl, "perf-control", "", "burst: CTL_FIFO,ACK_FIFO of a `perf stat --control fifo:CTL_FIFO,ACK_FIFO -D -1` to enable for each burst only")
	fs.StringVar(&c.MetricsURL, "metrics-url", "", "idle: server /metrics URL to read Go memory figures from")
	fs.IntVar(&c.MaxErrors, "max-errors", 0, "exit 1 when a run counts more errors than this")
	fs.BoolVar(&c.JSON, "json", false, "print a one-line JSON summary instead of text")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the tool's own CPU profile to this file")
	progress := fs.String("progress", "auto", "per-second progress on stderr: on, off, or auto (on unless -json)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errConfig, fs.Arg(0))
	}
	switch *progress {
	case "on":
		c.Progress = true
	case "off":
	case "auto":
		c.Progress = !c.JSON
	default:
		return nil, fmt.Errorf("%w: -progress must be on, off or auto", errConfig)
	}
	return c, c.validate()
}

func (c *config) validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "":
		return fmt.Errorf("%w: -url %q is not a ws:// or wss:// URL", errConfig, c.URL)
	case c.PeerURL != "" && (c.Scenario != scenarioRelay || c.Transport != transportWS || !strings.HasPrefix(c.PeerURL, "ws")):
		return fmt.Errorf("%w: -peer-url is a ws:// URL, for the relay scenario over ws", errConfig)
	case c.Scenario != scenarioIdle && c.Scenario != scenarioRelay && c.Scenario != scenarioResume && c.Scenario != scenarioBurst && c.Scenario != scenarioHoard:
		return fmt.Errorf("%w: -scenario must be idle, relay, burst, resume or hoard, not %q", errConfig, c.Scenario)
	case c.Scenario == scenarioHoard && (c.Transport != transportWS || c.Protocol != protocolSwitchboard):
		return fmt.Errorf("%w: the hoard scenario runs over ws against switchboard", errConfig)
	case c.Protocol != protocolSwitchboard && c.Protocol != protocolPeerJS:
		return fmt.Errorf("%w: -protocol must be switchboard or peerjs, not %q", errConfig, c.Protocol)
	case c.Protocol == protocolPeerJS && (c.Transport != transportWS || c.Scenario == scenarioIdle || c.Scenario == scenarioResume || c.PeerURL != ""):
		return fmt.Errorf("%w: -protocol peerjs is for the relay and burst scenarios over ws, on one server", errConfig)
	case c.Protocol == protocolPeerJS && c.Size < minPeerJSSize:
		return fmt.Errorf("%w: -size must be at least %d bytes with -protocol peerjs", errConfig, minPeerJSSize)
	case c.Client != clientSbload && c.Client != clientGorilla:
		return fmt.Errorf("%w: -client must be sbload or gorilla, not %q", errConfig, c.Client)
	case c.Client == clientGorilla && (c.Transport != transportWS || (c.Scenario != scenarioRelay && c.Scenario != scenarioBurst)):
		return fmt.Errorf("%w: -client gorilla is for the relay and burst scenarios over ws", errConfig)
	case c.Direction != directionBoth && c.Direction != directionOneWay:
		return fmt.Errorf("%w: -direction must be both or one-way, not %q", errConfig, c.Direction)
	case c.Direction == directionOneWay && c.Scenario != scenarioBurst:
		return fmt.Errorf("%w: -direction one-way is for the burst scenario", errConfig)
	case c.PerfControl != "" && (c.Scenario != scenarioBurst || !strings.Contains(c.PerfControl, ",")):
		return fmt.Errorf("%w: -perf-control is CTL_FIFO,ACK_FIFO, for the burst scenario", errConfig)
	case c.Scenario == scenarioBurst && c.Transport != transportWS:
		return fmt.Errorf("%w: the burst scenario runs over ws", errConfig)
	case c.Scenario == scenarioBurst && (c.Offers < 2 || c.Offers > 100000 || c.Bursts < 1 || c.Bursts > 1000):
		return fmt.Errorf("%w: -offers must be 2-100000 and -bursts 1-1000", errConfig)
	case c.Transport != transportWS && c.Transport != transportSSE && c.Transport != transportPoll:
		return fmt.Errorf("%w: -transport must be ws, sse or poll, not %q", errConfig, c.Transport)
	case c.Transport != transportWS && u.Scheme != "ws":
		return fmt.Errorf("%w: -transport %s speaks plain HTTP only: -url must be ws://", errConfig, c.Transport)
	case c.Duration <= 0 || c.Warmup < 0 || c.Drain < 0 || c.Settle < 0 || c.DialTimeout <= 0:
		return fmt.Errorf("%w: -duration and -dial-timeout must be positive, -warmup, -drain and -settle not negative", errConfig)
	case c.DialConcurrency < 1:
		return fmt.Errorf("%w: -dial-concurrency must be at least 1", errConfig)
	case c.MaxErrors < 0:
		return fmt.Errorf("%w: -max-errors must not be negative", errConfig)
	case c.ServerPID < 0:
		return fmt.Errorf("%w: -server-pid must not be negative", errConfig)
	case c.Sources < 0 || c.Sources > maxSources:
		return fmt.Errorf("%w: -sources must be 0-%d", errConfig, maxSources)
	case c.Sources > 0 && (c.Scenario != scenarioIdle || c.Transport != transportWS):
		return fmt.Errorf("%w: -sources is for the idle scenario over ws", errConfig)
	}
	if c.MetricsURL != "" {
		if u, err := url.Parse(c.MetricsURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: -metrics-url %q is not an http:// URL", errConfig, c.MetricsURL)
		}
	}
	if c.Scenario == scenarioIdle {
		switch {
		case c.Conns < 1:
			return fmt.Errorf("%w: -conns must be at least 1", errConfig)
		case c.Rooms != roomsPairs && c.Rooms != roomsNone:
			return fmt.Errorf("%w: -rooms must be pairs or none", errConfig)
		}
		return nil
	}
	if c.Scenario == scenarioResume {
		switch {
		case c.Rounds < 1 || c.Rounds > 10000:
			return fmt.Errorf("%w: -rounds must be 1-10000", errConfig)
		case c.Events < 1 || c.Events > 1000:
			return fmt.Errorf("%w: -events must be 1-1000 (the server keeps 1024 by default)", errConfig)
		case c.Size < minFrameSize || c.Size > maxFrameSize:
			return fmt.Errorf("%w: -size must be %d-%d bytes", errConfig, minFrameSize, maxFrameSize)
		}
		return nil
	}
	switch {
	case c.Pairs < 1:
		return fmt.Errorf("%w: -pairs must be at least 1", errConfig)
	case c.Rate < 0:
		return fmt.Errorf("%w: -rate must not be negative", errConfig)
	case c.Rate > float64(2*c.Pairs)*1e6:
		return fmt.Errorf("%w: -rate over 1,000,000 offers/s per connection; add -pairs", errConfig)
	case c.Window < 1 || c.Window > 4096:
		return fmt.Errorf("%w: -window must be 1-4096", errConfig)
	case c.Size < minFrameSize || c.Size > maxFrameSize:
		return fmt.Errorf("%w: -size must be %d-%d bytes", errConfig, minFrameSize, maxFrameSize)
	}
	return nil
}

// endpoint is the server URL for path (such as "/v1/sse") on the host of
// -url, with the http scheme that goes with its ws scheme.
func (c *config) endpoint(path string) string {
	u, _ := url.Parse(c.URL) // validated
	u.Scheme = strings.Replace(u.Scheme, "ws", "http", 1)
	u.Path, u.RawQuery = path, ""
	return u.String()
}
