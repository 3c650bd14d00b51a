package turn

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullConfig sets every supported key once, in each of the three line
// forms.
const fullConfig = `# every key
listening-port=3479
tls-listening-port 5350
listening-ip=127.0.0.1
listening-ip = 127.0.0.2
alt-listening-ip=127.0.0.3
alt-listening-port 3481
relay-ip=127.0.0.1
external-ip=203.0.113.5/127.0.0.1
min-port=40000
max-port=40100
realm=example.org
use-auth-secret
static-auth-secret=new-secret-0123456789
static-auth-secret="old-secret-0123456789"
lt-cred-mech
user=alice:wonderland
user=bob:0x0123456789abcdef0123456789abcdef
cert=/etc/ssl/turn.pem
pkey=/etc/ssl/turn.key
no-udp=false
no-tcp=no
no-tls=0
denied-peer-ip=203.0.113.0-203.0.113.255
allowed-peer-ip=203.0.113.7
allow-loopback-peers
no-multicast-peers
user-quota=5
total-quota=100
max-bps=64000
bps-capacity=1000000
stun-only=false
no-stun=false
stale-nonce=300
log-file=stdout
verbose=false
Verbose
prometheus
prometheus-port=9642
pidfile=/run/switchboard-turn.pid
metrics=127.0.0.1:9643
pprof=127.0.0.1:6060
udp-sockets=2
socket-buffer=1048576
max-credential-validity=12h
tcp-idle-timeout=20s
max-conns-per-ip=10
source-quota 12
auth-rate=20
auth-burst=60
allow-private-peers=false
--shutdown-timeout=5s
`

func TestConfigFileEveryKey(t *testing.T) {
	o := DefaultOptions()
	if err := o.ParseConfigFile(strings.NewReader(fullConfig), "full.conf"); err != nil {
		t.Fatal(err)
	}
	want := &Options{
		ListeningPort: 3479, TLSListeningPort: 5350, ListeningIPs: []string{"127.0.0.1", "127.0.0.2"},
		AltListeningIP: "127.0.0.3", AltListeningPort: 3481,
		RelayIPs: []string{"127.0.0.1"}, ExternalIP: "203.0.113.5/127.0.0.1", MinPort: 40000, MaxPort: 40100,
		Realm: "example.org", UseAuthSecret: true,
		StaticAuthSecrets: []string{"new-secret-0123456789", "old-secret-0123456789"}, LTCredMech: true,
		Users: []string{"alice:wonderland", "bob:0x0123456789abcdef0123456789abcdef"},
		Cert:  "/etc/ssl/turn.pem", PKey: "/etc/ssl/turn.key",
		DeniedPeerIPs: []string{"203.0.113.0-203.0.113.255"}, AllowedPeerIPs: []string{"203.0.113.7"},
		AllowLoopbackPeers: true, NoMulticastPeers: true, UserQuota: 5, TotalQuota: 100, MaxBPS: 64000,
		BPSCapacity: 1000000, StaleNonce: 300, LogFile: "stdout", Verbose: true, Prometheus: true,
		PrometheusPort: 9642, PIDFile: "/run/switchboard-turn.pid", Metrics: "127.0.0.1:9643", Pprof: "127.0.0.1:6060", UDPSockets: 2,
		SocketBuffer: 1 << 20, MaxCredentialValidity: 12 * time.Hour, TCPIdleTimeout: 20 * time.Second,
		MaxConnsPerIP: 10, SourceQuota: 12, AuthRate: 20, AuthBurst: 60, ShutdownTimeout: 5 * time.Second,
	}
	got := *o
	got.lines = nil // where each key came from, for errors
	if !reflect.DeepEqual(&got, want) {
		t.Fatalf("parsed\n%+v\nwant\n%+v", &got, want)
	}
	// Every key of the table appears in the file, so none is untested.
	for _, opt := range optionTable {
		if !strings.Contains(fullConfig, "\n"+opt.key) && !strings.Contains(fullConfig, "--"+opt.key) {
			t.Errorf("key %s missing from fullConfig", opt.key)
		}
	}
	if _, err := o.check(); err == nil {
		t.Fatal("alt-listening-ip with two listening-ip accepted")
	}
	o.ListeningIPs = o.ListeningIPs[:1]
	cfg, err := o.check()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.PublicIP.Equal(net.IPv4(203, 0, 113, 5)) || cfg.RelayBindAddress != "127.0.0.1" || len(cfg.Secrets) != 2 ||
		len(cfg.Users) != 2 || cfg.Users[1].Key == nil || cfg.NonceLifetime != 5*time.Minute || len(cfg.DeniedPeers) != 1 {
		t.Fatalf("derived config %+v", cfg)
	}
}

func TestConfigFileErrors(t *testing.T) {
	cases := []struct {
		name, file string
		want       error
		mention    string
	}{
		{"unknown key", "realm=x\nlistening-prot=3478\n", errUnknownKey, "bad.conf:2: "},
		{"unsupported coturn key", "# c\n\nchannel-lifetime=600\n", errUnsupportedKey, "bad.conf:3: "},
		{"dtls", "dtls", errUnsupportedKey, "DTLS"},
		{"TLS 1.3 only", "no-tlsv1_2", errUnsupportedKey, "cannot be raised to TLS 1.3"},
		{"TLS 1.0", "tlsv1", errUnsupportedKey, "TLS 1.0 clients cannot connect"},
		{"permission-lifetime", "permission-lifetime 300", errUnsupportedKey, "pion/turn/v4"},
		{"max-allocate-lifetime", "max-allocate-lifetime=60", errUnsupportedKey, "1 hour"},
		{"bare non-flag", "realm", errBadValue, "needs a value"},
		{"bad int", "user-quota=many", errBadValue, "not an integer"},
		{"bad bool", "verbose=maybe", errBadValue, "not a boolean"},
		{"bad duration", "tcp-idle-timeout=30", errBadValue, "duration"},
	}
	for _, tc := range cases {
		err := DefaultOptions().ParseConfigFile(strings.NewReader(tc.file), "bad.conf")
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: %v, want %v mentioning %q", tc.name, err, tc.want, tc.mention)
		}
	}
	long := "realm=" + strings.Repeat("x", maxConfigLine+1)
	if err := DefaultOptions().ParseConfigFile(strings.NewReader(long), "long.conf"); err == nil {
		t.Error("an over-long line was accepted")
	}
}

// TestOptionsCheck: every refusal of a consistent-looking file.
func TestOptionsCheck(t *testing.T) {
	base := "use-auth-secret\nstatic-auth-secret=0123456789abcdef\n"
	cases := map[string]string{
		"port range":            base + "min-port=5000\nmax-port=4000",
		"listening port":        base + "listening-port=70000",
		"no listeners":          base + "no-udp\nno-tcp",
		"cert without key":      base + "cert=a.pem",
		"stun-only and no-stun": base + "stun-only\nno-stun",
		"secret without flag":   "static-auth-secret=0123456789abcdef",
		"flag without secret":   "use-auth-secret",
		"no auth":               "realm=x",
		"short secret":          "use-auth-secret\nstatic-auth-secret=short",
		"stale nonce":           base + "stale-nonce=0",
		"two relay ips":         base + "relay-ip=127.0.0.1\nrelay-ip=127.0.0.2",
		"v6 relay ip":           base + "relay-ip=::1",
		"bad listening ip":      base + "listening-ip=localhost",
		"bad external ip":       base + "external-ip=nowhere",
		"bad external private":  base + "external-ip=203.0.113.1/x",
		"unspecified external":  base + "external-ip=0.0.0.0",
		"bad user":              base + "user=alice",
		"bad user key":          base + "user=bob:0x1234",
		"bad denied range":      base + "denied-peer-ip=10.0.0.9-10.0.0.1",
		"bad allowed range":     base + "allowed-peer-ip=x",
		"prometheus port":       base + "prometheus\nprometheus-port=0",
		"udp sockets":           base + "udp-sockets=1000",
		"negative auth rate":    base + "auth-rate=-1",
		"alt without listen ip": base + "alt-listening-ip=127.0.0.2",
		"alt same as primary":   base + "listening-ip=127.0.0.1\nalt-listening-ip=127.0.0.1",
		"alt v6":                base + "listening-ip=127.0.0.1\nalt-listening-ip=::1",
		"alt without udp":       base + "listening-ip=127.0.0.1\nalt-listening-ip=127.0.0.2\nno-udp",
		"alt port = port":       base + "listening-port=3478\nalt-listening-port=3478",
		"multicast peers":       base + "no-multicast-peers=false",
	}
	for name, file := range cases {
		o := DefaultOptions()
		if err := o.ParseConfigFile(strings.NewReader(file), "c.conf"); err != nil {
			t.Errorf("%s: parse: %v", name, err)
			continue
		}
		if _, err := o.check(); !errors.Is(err, errBadOptions) {
			t.Errorf("%s: check returned %v", name, err)
		}
	}
	o := DefaultOptions()
	_ = o.ParseConfigFile(strings.NewReader("stun-only"), "c.conf")
	if _, err := o.check(); err != nil {
		t.Errorf("stun-only needs no credentials: %v", err)
	}
}

// TestFlagsShareTheTable: --key flags set the same fields as file keys,
// and lists accumulate.
func TestFlagsShareTheTable(t *testing.T) {
	o := DefaultOptions()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.RegisterFlags(fs, "turn-", "user-quota", "denied-peer-ip", "verbose")
	err := fs.Parse([]string{"-turn-user-quota", "7", "--turn-denied-peer-ip", "10.0.0.1", "-turn-denied-peer-ip=10.0.0.2", "-turn-verbose"})
	if err != nil {
		t.Fatal(err)
	}
	if o.UserQuota != 7 || len(o.DeniedPeerIPs) != 2 || !o.Verbose {
		t.Fatalf("%+v", o)
	}
	if fs.Lookup("turn-max-bps") != nil {
		t.Error("a key outside the subset was registered")
	}
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	fs.PrintDefaults()
	if !strings.Contains(buf.String(), "live allocations per user") {
		t.Errorf("usage lacks the table's text:\n%s", buf.String())
	}
	// One default each, the one DefaultOptions sets; none for zero values.
	buf.Reset()
	all := flag.NewFlagSet("t", flag.ContinueOnError)
	all.SetOutput(&buf)
	DefaultOptions().RegisterFlags(all, "")
	all.PrintDefaults()
	for _, want := range []string{"(default 64)", "(default 24h0m0s)", "(default 4194304)", "(default true)", "(default 3478)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("usage lacks %s:\n%s", want, buf.String())
		}
	}
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.Count(line, "default") > 1 || strings.Contains(line, "(default 0") || strings.Contains(line, "(default false)") {
			t.Errorf("a contradictory or zero default: %q", line)
		}
	}
}

func TestSplitConfigLine(t *testing.T) {
	cases := map[string][4]string{
		"key=value":          {"key", "value", "true", "true"},
		"  key  =  value  ":  {"key", "value", "true", "true"},
		"key value":          {"key", "value", "true", "true"},
		"key\tvalue":         {"key", "value", "true", "true"},
		"key = \"a b\"":      {"key", "a b", "true", "true"},
		"key":                {"key", "", "false", "true"},
		"--key=v":            {"key", "v", "true", "true"},
		"# comment":          {"", "", "false", "false"},
		"":                   {"", "", "false", "false"},
		"secret=a#b=c":       {"secret", "a#b=c", "true", "true"},
		"key value = spaced": {"key", "value = spaced", "true", "true"},
	}
	for line, want := range cases {
		k, v, has, ok := splitConfigLine(line)
		got := [4]string{k, v, boolStr(has), boolStr(ok)}
		if got != want {
			t.Errorf("%q: got %q, want %q", line, got, want)
		}
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
