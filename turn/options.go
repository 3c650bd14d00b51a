package turn

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Options are the standalone relay's settings under coturn's names. The
// same table parses turnserver.conf lines (ParseConfigFile), --key flags
// (RegisterFlags) and the bundled relay's -turn-* flags, so the three
// cannot drift apart.
type Options struct {
	ListeningPort      int      // listening-port, default 3478 (UDP and TCP)
	TLSListeningPort   int      // tls-listening-port, default 5349
	ListeningIPs       []string // listening-ip, several; default all addresses
	AltListeningIP     string   // alt-listening-ip: second address for RFC 5780
	AltListeningPort   int      // alt-listening-port: second port for RFC 5780, default listening-port+1
	RelayIPs           []string // relay-ip: where relay sockets bind
	ExternalIP         string   // external-ip: public or public/private
	MinPort, MaxPort   int      // min-port, max-port: relay range, default 49152-65535
	Realm              string   // realm
	UseAuthSecret      bool     // use-auth-secret
	StaticAuthSecrets  []string // static-auth-secret, several: first mints, any verifies
	LTCredMech         bool     // lt-cred-mech
	Users              []string // user=name:password or name:0x<key>
	Cert, PKey         string   // cert, pkey
	NoUDP, NoTCP       bool     // no-udp, no-tcp
	NoTLS              bool     // no-tls
	DeniedPeerIPs      []string // denied-peer-ip
	AllowedPeerIPs     []string // allowed-peer-ip
	AllowLoopbackPeers bool     // allow-loopback-peers
	NoMulticastPeers   bool     // no-multicast-peers (multicast is always denied)
	UserQuota          int      // user-quota: default 64; 0 or -1 unlimited, as in coturn
	TotalQuota         int      // total-quota: 0 or -1 unlimited, as in coturn; unset, half the relay ports
	MaxBPS             int      // max-bps: bytes per second per allocation and direction
	BPSCapacity        int      // bps-capacity: bytes per second for the server
	StunOnly, NoStun   bool     // stun-only, no-stun
	StaleNonce         int      // stale-nonce: nonce lifetime in seconds, default 600
	LogFile            string   // log-file: path, or "stdout"/"-"
	Verbose            bool     // verbose: debug logging
	Prometheus         bool     // prometheus
	PrometheusPort     int      // prometheus-port, default 9641
	PIDFile            string   // pidfile

	// Switchboard's own keys, which coturn does not have.
	Metrics               string        // metrics: address of a /metrics listener
	Pprof                 string        // pprof: address of a /debug/pprof listener (never public)
	UDPSockets            int           // udp-sockets: per listening address, default one per core
	SocketBuffer          int           // socket-buffer: SO_RCVBUF/SO_SNDBUF bytes, default 4 MiB
	MaxCredentialValidity time.Duration // max-credential-validity, default 24h
	TCPIdleTimeout        time.Duration // tcp-idle-timeout, default 30s
	MaxConnsPerIP         int           // max-conns-per-ip, default 64
	SourceQuota           int           // source-quota: allocations per source (IPv6 /64); unset, an eighth of the relay ports, at most 256
	AuthRate, AuthBurst   int           // auth-rate, auth-burst: 401/438 answers per source, default 10/s and 40
	AllowPrivatePeers     bool          // allow-private-peers: unsafe on a public server
	ShutdownTimeout       time.Duration // shutdown-timeout: drain deadline on SIGTERM, default 30s

	lines   map[string]string // key -> FILE:LINE that last set it, for errors
	ignored []Ignored
}

// Ignored is a coturn key that was accepted and has no effect here.
type Ignored struct {
	At      string // FILE:LINE, empty for a flag
	Key     string
	Instead string // what switchboard does instead
}

// Ignored lists the accepted coturn keys that change nothing, in the order
// they were read: StartStandalone logs one warning for each.
func (o *Options) Ignored() []Ignored { return o.ignored }

// DefaultOptions returns the defaults: coturn's where coturn has one.
// Flags show them as their defaults.
func DefaultOptions() *Options {
	return &Options{ListeningPort: 3478, TLSListeningPort: 5349, MinPort: 49152, MaxPort: 65535,
		PrometheusPort: 9641, StaleNonce: 600, ShutdownTimeout: 30 * time.Second, UserQuota: 64,
		NoMulticastPeers: true, SocketBuffer: defaultSocketBuffer, MaxCredentialValidity: 24 * time.Hour,
		TCPIdleTimeout: 30 * time.Second, MaxConnsPerIP: 64, AuthRate: 10, AuthBurst: 40}
}

type optKind int

const (
	kindString optKind = iota
	kindInt
	kindBool
	kindList
	kindDuration
)

type option struct {
	key   string
	kind  optKind
	usage string
	str   func(*Options) *string
	num   func(*Options) *int
	flag  func(*Options) *bool
	list  func(*Options) *[]string
	dur   func(*Options) *time.Duration
}

func str(key, usage string, f func(*Options) *string) option {
	return option{key: key, kind: kindString, usage: usage, str: f}
}
func num(key, usage string, f func(*Options) *int) option {
	return option{key: key, kind: kindInt, usage: usage, num: f}
}
func boolean(key, usage string, f func(*Options) *bool) option {
	return option{key: key, kind: kindBool, usage: usage, flag: f}
}
func list(key, usage string, f func(*Options) *[]string) option {
	return option{key: key, kind: kindList, usage: usage, list: f}
}
func dur(key, usage string, f func(*Options) *time.Duration) option {
	return option{key: key, kind: kindDuration, usage: usage, dur: f}
}

// optionTable lists every supported key.
var optionTable = []option{
	num("listening-port", "STUN/TURN port for UDP and TCP", func(o *Options) *int { return &o.ListeningPort }),
	num("tls-listening-port", "TURN over TLS port", func(o *Options) *int { return &o.TLSListeningPort }),
	list("listening-ip", "address to listen on (repeat for several; none: all addresses)", func(o *Options) *[]string { return &o.ListeningIPs }),
	str("alt-listening-ip", "alternate address for RFC 5780 NAT discovery (needs one listening-ip)", func(o *Options) *string { return &o.AltListeningIP }),
	num("alt-listening-port", "alternate port for RFC 5780 (0: listening-port+1)", func(o *Options) *int { return &o.AltListeningPort }),
	list("relay-ip", "address relay sockets bind to", func(o *Options) *[]string { return &o.RelayIPs }),
	str("external-ip", "advertised relay address: PUBLIC or PUBLIC/PRIVATE", func(o *Options) *string { return &o.ExternalIP }),
	num("min-port", "lowest relay port", func(o *Options) *int { return &o.MinPort }),
	num("max-port", "highest relay port", func(o *Options) *int { return &o.MaxPort }),
	str("realm", "authentication realm", func(o *Options) *string { return &o.Realm }),
	boolean("use-auth-secret", "TURN REST API credentials (static-auth-secret)", func(o *Options) *bool { return &o.UseAuthSecret }),
	list("static-auth-secret", "REST API shared secret (repeat to rotate: the first mints, any verifies)", func(o *Options) *[]string { return &o.StaticAuthSecrets }),
	boolean("lt-cred-mech", "long-term credentials (user)", func(o *Options) *bool { return &o.LTCredMech }),
	list("user", "static user NAME:PASSWORD or NAME:0xKEY (repeat)", func(o *Options) *[]string { return &o.Users }),
	str("cert", "TLS certificate file (PEM); reloaded on SIGHUP", func(o *Options) *string { return &o.Cert }),
	str("pkey", "TLS private key file (PEM); reloaded on SIGHUP", func(o *Options) *string { return &o.PKey }),
	boolean("no-udp", "no UDP listener", func(o *Options) *bool { return &o.NoUDP }),
	boolean("no-tcp", "no TCP listener", func(o *Options) *bool { return &o.NoTCP }),
	boolean("no-tls", "no TLS listener", func(o *Options) *bool { return &o.NoTLS }),
	list("denied-peer-ip", "deny peers in ADDR, A-B or PREFIX (repeat)", func(o *Options) *[]string { return &o.DeniedPeerIPs }),
	list("allowed-peer-ip", "allow peers in ADDR, A-B or PREFIX even if denied (repeat)", func(o *Options) *[]string { return &o.AllowedPeerIPs }),
	boolean("allow-loopback-peers", "allow relaying to loopback addresses (testing only)", func(o *Options) *bool { return &o.AllowLoopbackPeers }),
	boolean("no-multicast-peers", "deny multicast peers: always on, false is refused (a coturn key)", func(o *Options) *bool { return &o.NoMulticastPeers }),
	num("user-quota", "live allocations per user (0 or -1: unlimited, as in coturn)", func(o *Options) *int { return &o.UserQuota }),
	num("total-quota", "live allocations in total (0 or -1: unlimited, as in coturn; unset: half the relay ports)", func(o *Options) *int { return &o.TotalQuota }),
	num("source-quota", "live allocations per source address, IPv6 by /64, whoever's credentials (0 or -1: unlimited; unset: an eighth of the relay ports, at most 256)", func(o *Options) *int { return &o.SourceQuota }),
	num("max-bps", "relayed bytes per second per allocation and direction (0 unlimited)", func(o *Options) *int { return &o.MaxBPS }),
	num("bps-capacity", "relayed bytes per second for the server per direction (0 unlimited)", func(o *Options) *int { return &o.BPSCapacity }),
	boolean("stun-only", "answer STUN Binding only, no TURN", func(o *Options) *bool { return &o.StunOnly }),
	boolean("no-stun", "TURN only: ignore STUN Binding requests", func(o *Options) *bool { return &o.NoStun }),
	num("stale-nonce", "nonce lifetime in seconds", func(o *Options) *int { return &o.StaleNonce }),
	str("log-file", "log to this file (stdout or - for standard output)", func(o *Options) *string { return &o.LogFile }),
	boolean("verbose", "debug logging", func(o *Options) *bool { return &o.Verbose }),
	boolean("Verbose", "debug logging, as verbose (coturn's extra verbose)", func(o *Options) *bool { return &o.Verbose }),
	boolean("prometheus", "serve Prometheus metrics on prometheus-port", func(o *Options) *bool { return &o.Prometheus }),
	num("prometheus-port", "Prometheus metrics port", func(o *Options) *int { return &o.PrometheusPort }),
	str("pidfile", "write the process id here", func(o *Options) *string { return &o.PIDFile }),
	str("metrics", "address of a /metrics listener, e.g. 127.0.0.1:9641", func(o *Options) *string { return &o.Metrics }),
	str("pprof", "address of Go's /debug/pprof profiler, e.g. 127.0.0.1:6060 (never expose it)", func(o *Options) *string { return &o.Pprof }),
	num("udp-sockets", "UDP sockets per listening address with SO_REUSEPORT (0: one per core)", func(o *Options) *int { return &o.UDPSockets }),
	num("socket-buffer", "SO_RCVBUF and SO_SNDBUF of UDP sockets in bytes", func(o *Options) *int { return &o.SocketBuffer }),
	dur("max-credential-validity", "refuse REST credentials valid further ahead than this", func(o *Options) *time.Duration { return &o.MaxCredentialValidity }),
	dur("tcp-idle-timeout", "close TCP/TLS connections without an allocation idle this long", func(o *Options) *time.Duration { return &o.TCPIdleTimeout }),
	num("max-conns-per-ip", "TCP/TLS connections per source address", func(o *Options) *int { return &o.MaxConnsPerIP }),
	num("auth-rate", "401/438 answers per second per source address", func(o *Options) *int { return &o.AuthRate }),
	num("auth-burst", "burst of 401/438 answers per source address", func(o *Options) *int { return &o.AuthBurst }),
	boolean("allow-private-peers", "allow relaying to private, loopback and link-local peers (unsafe)", func(o *Options) *bool { return &o.AllowPrivatePeers }),
	dur("shutdown-timeout", "drain deadline on SIGTERM", func(o *Options) *time.Duration { return &o.ShutdownTimeout }),
}

// derivedQuota reports the quota keys whose default is derived from the
// relay port range, so an explicit 0 (unlimited) must differ from unset.
func derivedQuota(key string) bool { return key == "total-quota" || key == "source-quota" }

func findOption(key string) (*option, bool) {
	for i := range optionTable {
		if optionTable[i].key == key {
			return &optionTable[i], true
		}
	}
	return nil, false
}

// Set applies one key. A bool key takes no value or true/false/yes/no/1/0.
// A coturn key switchboard accepts and ignores is noted (Ignored).
func (o *Options) Set(key, value string, hasValue bool) error {
	return o.set(key, value, hasValue, "")
}

// set applies one key read at (FILE:LINE, or "" for a flag).
func (o *Options) set(key, value string, hasValue bool, at string) error {
	opt, ok := findOption(key)
	if at != "" {
		if o.lines == nil {
			o.lines = make(map[string]string)
		}
		o.lines[key] = at
		if ok && opt.kind == kindList {
			o.lines[key+"="+value] = at // one line per value
		}
	}
	if !ok {
		if ig, known := ignoredKeys[key]; known {
			o.ignored = append(o.ignored, Ignored{At: at, Key: key, Instead: ig.instead})
			return nil
		}
		if why, known := unsupportedKeys[key]; known {
			return fmt.Errorf("%w: %q is a coturn option switchboard does not support: %s", errUnsupportedKey, key, why)
		}
		return fmt.Errorf("%w: %q", errUnknownKey, key)
	}
	if !hasValue && opt.kind != kindBool {
		return fmt.Errorf("%w: %q needs a value", errBadValue, key)
	}
	switch opt.kind {
	case kindString:
		*opt.str(o) = value
	case kindList:
		*opt.list(o) = append(*opt.list(o), value)
	case kindInt:
		n, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("%w: %s=%q is not an integer", errBadValue, key, value)
		}
		if n == 0 && derivedQuota(key) {
			n = -1 // coturn's 0 is unlimited; left unset (0) the quota is derived
		}
		*opt.num(o) = n
	case kindDuration:
		d, err := time.ParseDuration(value)
		if err != nil || d < 0 {
			return fmt.Errorf("%w: %s=%q is not a duration like 30s", errBadValue, key, value)
		}
		*opt.dur(o) = d
	case kindBool:
		b := true
		if hasValue {
			switch strings.ToLower(value) {
			case "true", "yes", "on", "1":
			case "false", "no", "off", "0":
				b = false
			default:
				return fmt.Errorf("%w: %s=%q is not a boolean", errBadValue, key, value)
			}
		}
		*opt.flag(o) = b
	}
	return nil
}

// RegisterFlags adds every option as a flag named prefix+key; keys limits
// them to a subset (nil: all).
func (o *Options) RegisterFlags(fs *flag.FlagSet, prefix string, keys ...string) {
	for i := range optionTable {
		opt := &optionTable[i]
		if keys != nil && !contains(keys, opt.key) {
			continue
		}
		fs.Var(&optionFlag{o: o, opt: opt}, prefix+opt.key, opt.usage)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

type optionFlag struct {
	o   *Options
	opt *option
}

// String is the value, or "" when it is its kind's zero: the flag
// package shows "(default X)" only for a non-empty default.
func (f *optionFlag) String() string {
	if f == nil || f.o == nil {
		return ""
	}
	var v string
	switch f.opt.kind {
	case kindString:
		return *f.opt.str(f.o)
	case kindInt:
		v = strconv.Itoa(*f.opt.num(f.o))
	case kindBool:
		v = strconv.FormatBool(*f.opt.flag(f.o))
	case kindDuration:
		v = f.opt.dur(f.o).String()
	default:
		return strings.Join(*f.opt.list(f.o), ",")
	}
	if v == "0" || v == "false" || v == "0s" {
		return ""
	}
	return v
}

// Type names the value in usage lines ("-turn-user-quota int").
func (f *optionFlag) Type() string {
	switch f.opt.kind {
	case kindInt:
		return "int"
	case kindDuration:
		return "duration"
	case kindBool:
		return ""
	case kindList:
		return "list"
	}
	return "string"
}

func (f *optionFlag) Set(v string) error { return f.o.Set(f.opt.key, v, true) }

func (f *optionFlag) IsBoolFlag() bool { return f.opt.kind == kindBool }
