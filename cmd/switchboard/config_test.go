package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/turn"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestConfigFlagsBeatEnvironment(t *testing.T) {
	parallel(t)
	c, err := parseConfig([]string{"-http", "127.0.0.1:9000"}, env(map[string]string{
		"SWITCHBOARD_HTTP":           "127.0.0.1:7000",
		"SWITCHBOARD_CREDENTIAL_TTL": "10m",
		"SWITCHBOARD_RELAY_PORTS":    "50000-50100",
		"SWITCHBOARD_PUBLIC_IP":      "203.0.113.5",
		"SWITCHBOARD_TURN_SECRET":    "0123456789abcdef",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:9000" || c.CredentialTTL != 10*time.Minute ||
		c.relayMin != 50000 || c.relayMax != 50100 || c.publicIP.String() != "203.0.113.5" || c.secretGenerated {
		t.Fatalf("got %+v", c)
	}
}

func TestConfigDefaults(t *testing.T) {
	parallel(t)
	c, err := parseConfig(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.TURNAddr != ":3478" || c.relayMin != 49152 || c.relayMax != 65535 ||
		c.CredentialTTL != time.Hour || !c.secretGenerated || len(c.TURNSecret) < 16 || c.publicIP == nil {
		t.Fatalf("got %+v", c)
	}
}

func TestConfigErrors(t *testing.T) {
	parallel(t)
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-relay-ports", "6000-5000"}, nil, "-relay-ports"},
		{[]string{"-relay-ports", "1-70000"}, nil, "-relay-ports"},
		{[]string{"-public-ip", "example.com"}, nil, "-public-ip"},
		{[]string{"-public-ip", "0.0.0.0"}, nil, "-public-ip"},
		{[]string{"-turn-secret", "short"}, nil, "-turn-secret"},
		{[]string{"-log-level", "loud"}, nil, "-log-level"},
		{[]string{"-join-secret", "too-short"}, nil, "-join-secret"},
		{[]string{"-trusted-proxies", "10.0.0.0/8, nonsense"}, nil, "-trusted-proxies"},
		{[]string{"-tls-cert", "cert.pem"}, nil, "-tls-key"},
		{[]string{"-join-secret-file", "/nonexistent/secret"}, nil, "-join-secret-file"},
		{[]string{"-join-secret-file", "/dev/null", "-join-secret", "0123456789abcdef0123456789abcdef"}, nil, "not both"},
		{[]string{"-log-format", "xml"}, nil, "-log-format"},
		{[]string{"-relay-bind", "any"}, nil, "-relay-bind"},
		{[]string{"stray"}, nil, "unexpected argument"},
		{nil, map[string]string{"SWITCHBOARD_ROOM_SIZE": "many"}, "SWITCHBOARD_ROOM_SIZE"},
		{[]string{"-no-such-flag"}, nil, "no-such-flag"},
		{[]string{"-redis", "http://127.0.0.1:6379"}, nil, "-redis"},
		{[]string{"-turn-urls", "10.0.0.7:3478"}, nil, "-turn-secret"},
		{[]string{"-turn-urls", "10.0.0.7", "-turn-secret", "0123456789abcdef"}, nil, "-turn-urls"},
		{nil, map[string]string{"SWITCHBOARD_REDIS": "redis://127.0.0.1:6379?no_such_option=1"}, "-redis"},
		{[]string{"-turn-alt-ip", "127.0.0.2"}, nil, "concrete IPv4 address in -turn"},
		{[]string{"-turn-alt-ip", "::1", "-turn", "127.0.0.1:3478"}, nil, "-turn-alt-ip \"::1\" is not a concrete IPv4"},
		{[]string{"-turn-alt-ip", "127.0.0.1", "-turn", "127.0.0.1:3478"}, nil, "must differ"},
	}
	for _, tc := range cases {
		_, err := parseConfig(tc.args, env(tc.env), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v, want one naming %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestHelpListsEveryOptionWithEnvTwin(t *testing.T) {
	parallel(t)
	var out bytes.Buffer
	_, err := parseConfig([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v", err)
	}
	for _, name := range []string{"http", "turn", "turn-secret", "public-ip", "relay-ports", "allowed-origins", "credential-ttl"} {
		if !strings.Contains(out.String(), "-"+name) || !strings.Contains(out.String(), "$"+envName(name)) {
			t.Errorf("help lacks -%s or $%s:\n%s", name, envName(name), out.String())
		}
	}
	if !strings.Contains(out.String(), `(default ":8080")`) {
		t.Error("help does not show defaults")
	}
}

func TestJoinSecretFile(t *testing.T) {
	parallel(t)
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseConfig([]string{"-join-secret-file", path}, env(nil), &bytes.Buffer{})
	if err != nil || string(c.joinSecret()) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("secret %q, err %v", c.joinSecret(), err)
	}
	if c, _ := parseConfig(nil, env(nil), &bytes.Buffer{}); c.joinSecret() != nil {
		t.Fatal("rooms closed without a secret")
	}
}

// TestBundledRelayOptionsShareTheTable: the bundled relay's -turn-KEY flags
// and SWITCHBOARD_TURN_KEY variables are the keys of switchboard turn's
// config file, parsed and checked by the same code.
func TestBundledRelayOptionsShareTheTable(t *testing.T) {
	parallel(t)
	c, err := parseConfig([]string{"-turn-user-quota", "5", "-turn-denied-peer-ip", "203.0.113.0-203.0.113.9"},
		env(map[string]string{"SWITCHBOARD_TURN_MAX_BPS": "64000", "SWITCHBOARD_TURN_ALLOW_LOOPBACK_PEERS": "true"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.TURN.UserQuota != 5 || c.TURN.MaxBPS != 64000 || !c.TURN.AllowLoopbackPeers || len(c.TURN.DeniedPeerIPs) != 1 {
		t.Fatalf("got %+v", c.TURN)
	}
	for _, bad := range [][]string{
		{"-turn-denied-peer-ip", "not-an-address"},
		{"-turn-stale-nonce", "0"},
		{"-turn-user-quota", "lots"},
	} {
		if _, err := parseConfig(bad, env(nil), &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestREADMEConfigurationTable: README.md's configuration table lists
// every flag of -help with its environment twin and the same default, and
// no flag -help lacks.
func TestREADMEConfigurationTable(t *testing.T) {
	parallel(t)
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	section = section[strings.Index(section, "\n## Configuration\n"):]
	section = section[:strings.Index(section[1:], "\n## ")+1]
	var help bytes.Buffer
	if _, err := parseConfig([]string{"-help"}, env(nil), &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	docs := map[string]flagDoc{}
	for _, d := range flagDocs(newFlagSet(&config{TURN: turn.DefaultOptions()}, io.Discard)) {
		docs[d.Name] = d
		if !strings.Contains(help.String(), "  -"+d.Name+" ") && !strings.Contains(help.String(), "  -"+d.Name+"\n") {
			t.Errorf("-help lacks -%s", d.Name)
		}
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) < 4 || !strings.HasPrefix(line, "| `-") {
			continue
		}
		names := splitCell(strings.TrimPrefix(cells[0], "| "))
		envs := splitCell(cells[1])
		defaults := []string{cells[2]}
		if len(names) > 1 {
			defaults = strings.Split(cells[2], ", ")
		}
		if len(envs) != len(names) || len(defaults) != len(names) {
			t.Errorf("row %q: %d flags, %d variables, %d defaults", line, len(names), len(envs), len(defaults))
			continue
		}
		for i, name := range names {
			name = strings.TrimPrefix(name, "-")
			seen[name] = true
			d, ok := docs[name]
			if !ok {
				t.Errorf("README lists -%s, which -help does not", name)
				continue
			}
			env := envs[i]
			if rest, ok := strings.CutPrefix(env, "…_"); ok && i > 0 {
				prev := envs[i-1]
				env = prev[:strings.LastIndex(prev, "_")+1] + rest
				envs[i] = env
			}
			if env != d.Env {
				t.Errorf("-%s: README says $%s, -help $%s", name, env, d.Env)
			}
			if got := readmeDefault(defaults[i]); !sameDefault(got, d) {
				t.Errorf("-%s: README's default %q, -help's %q", name, got, d.Default)
			}
		}
	}
	for name := range docs {
		if !seen[name] && name != "version" {
			t.Errorf("-%s is in -help but not in README.md's configuration table", name)
		}
	}
}

// splitCell reads "`a`, `b`" as [a b].
func splitCell(cell string) []string {
	var out []string
	for _, p := range strings.Split(cell, ", ") {
		out = append(out, strings.Trim(strings.TrimSpace(p), "`"))
	}
	return out
}

// readmeDefault reads a default cell: `literal`, or words; "none", "off"
// and zero literals mean the zero value.
func readmeDefault(cell string) string {
	cell = strings.TrimSpace(cell)
	switch cell {
	case "none", "off", "`false`", "`0`":
		return ""
	}
	return strings.Trim(cell, "`")
}

func sameDefault(readme string, d flagDoc) bool {
	if readme == d.Default {
		return true
	}
	a, errA := time.ParseDuration(readme)
	b, errB := time.ParseDuration(d.Default)
	return errA == nil && errB == nil && a == b
}
