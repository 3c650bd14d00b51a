package turn

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// parseFile reads a file of testdata/coturn with ParseConfigFile.
func parseFile(t *testing.T, name string) (*Options, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "coturn", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o := DefaultOptions()
	return o, o.ParseConfigFile(f, name)
}

func ignoredAt(o *Options) []string {
	var out []string
	for _, ig := range o.Ignored() {
		out = append(out, ig.At+" "+ig.Key)
	}
	return out
}

// TestCoturnConfigsStart: Debian's stock turnserver.conf (coturn 4.6.1, as
// the package ships it) and a config written the way coturn guides write
// one parse without an error, warn once per ignored key, and start a real
// relay on 127.0.0.1 once the listeners (and, for Debian's file, which
// has no authentication, a secret) are set for a test.
func TestCoturnConfigsStart(t *testing.T) {
	cases := []struct {
		file    string
		ignored []string
		prepare func(t *testing.T, o *Options)
		check   func(t *testing.T, o *Options, cfg Config)
	}{
		{
			file: "debian-4.6.1.conf",
			ignored: []string{"debian-4.6.1.conf:529 syslog", "debian-4.6.1.conf:779 no-rfc5780",
				"debian-4.6.1.conf:787 no-stun-backward-compatibility", "debian-4.6.1.conf:794 response-origin-only-with-rfc5780"},
			prepare: func(t *testing.T, o *Options) {
				if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "no authentication") {
					t.Errorf("Debian's file has no authentication, switchboard requires it: %v", err)
				}
				for _, kv := range [][2]string{{"use-auth-secret", "true"}, {"static-auth-secret", "migrated-secret-0123"}} {
					if err := o.Set(kv[0], kv[1], true); err != nil {
						t.Fatal(err)
					}
				}
			},
		},
		{
			file: "guide.conf",
			ignored: []string{"guide.conf:13 fingerprint", "guide.conf:17 server-name", "guide.conf:25 cipher-list",
				"guide.conf:26 no-tlsv1", "guide.conf:27 no-tlsv1_1", "guide.conf:28 dh2066", "guide.conf:30 no-loopback-peers",
				"guide.conf:47 no-cli", "guide.conf:49 simple-log"},
			prepare: func(t *testing.T, o *Options) {
				if err := o.Validate(); err != nil {
					t.Errorf("the guide's config as written: %v", err)
				}
				o.Cert, o.PKey = filepath.Join(t.TempDir(), "cert.pem"), filepath.Join(t.TempDir(), "key.pem")
				writeCert(t, o.Cert, o.PKey)
				o.ExternalIP, o.TLSListeningPort = "", 0
			},
			check: func(t *testing.T, o *Options, cfg Config) {
				if o.UserQuota != 0 || cfg.UserQuota != -1 || cfg.TotalQuota != 100 || len(cfg.DeniedPeers) != 14 {
					t.Errorf("user-quota=0 must be unlimited: options %d, config %d; total %d, denied %d",
						o.UserQuota, cfg.UserQuota, cfg.TotalQuota, len(cfg.DeniedPeers))
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			o, err := parseFile(t, tc.file)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := ignoredAt(o); !slices.Equal(got, tc.ignored) {
				t.Errorf("ignored keys\n%q\nwant\n%q", got, tc.ignored)
			}
			tc.prepare(t, o)
			o.ListeningIPs, o.ListeningPort, o.MinPort, o.MaxPort = []string{"127.0.0.1"}, 0, 45000, 46000
			var logs bytes.Buffer
			st, err := StartStandalone(o, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			defer st.Close()
			if st.UDPAddr() == nil || st.TCPAddr() == nil {
				t.Fatalf("listeners: udp %v tcp %v", st.UDPAddr(), st.TCPAddr())
			}
			c, err := net.Dial("tcp", st.TCPAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tcpBinding(t, c)
			for _, ig := range o.Ignored() {
				line := "key=" + ig.Key + " at=" + ig.At
				if n := strings.Count(logs.String(), line); n != 1 || !strings.Contains(logs.String(), "level=WARN msg=\"coturn option ignored\" "+line) {
					t.Errorf("%d warnings for %s:\n%s", n, line, logs.String())
				}
			}
			if tc.check != nil {
				cfg, _ := o.check()
				tc.check(t, o, cfg)
			}
		})
	}
}

// TestConfigFileReportsEveryProblem: one run names every bad line of a
// file, and then every problem of what the good lines add up to.
func TestConfigFileReportsEveryProblem(t *testing.T) {
	o, err := parseFile(t, "many-problems.conf")
	for _, want := range []struct {
		line string
		is   error
	}{
		{"many-problems.conf:3: unknown option: \"lisening-ip\"", errUnknownKey},
		{"many-problems.conf:4: unsupported option: \"channel-lifetime\"", errUnsupportedKey},
		{"many-problems.conf:5: bad option value: user-quota=\"lots\"", errBadValue},
		{"many-problems.conf:7: bad option value: \"realm\" needs a value", errBadValue},
		{"many-problems.conf:8: unsupported option: \"mobility\"", errUnsupportedKey},
	} {
		if !strings.Contains(err.Error(), want.line) || !errors.Is(err, want.is) {
			t.Errorf("parse error lacks %q (%v):\n%v", want.line, want.is, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 5 {
		t.Errorf("%d problems reported, want 5:\n%v", n, err)
	}
	err = o.Validate()
	for _, want := range []string{
		"many-problems.conf:9, many-problems.conf:10: min-port 60000 / max-port 50000 is not a range",
		"many-problems.conf:12: static-auth-secret must be at least 16 characters",
		"many-problems.conf:13: denied-peer-ip: ",
	} {
		if !strings.Contains(err.Error(), want) || !errors.Is(err, errBadOptions) {
			t.Errorf("check error lacks %q:\n%v", want, err)
		}
	}
}

// TestConfigFileStopsAtManyProblems: a file that is no config at all
// gives a bounded report.
func TestConfigFileStopsAtManyProblems(t *testing.T) {
	err := DefaultOptions().ParseConfigFile(strings.NewReader(strings.Repeat("nonsense\n", 1000)), "junk")
	if n := strings.Count(err.Error(), "\n") + 1; n != maxConfigErrors+1 || !strings.Contains(err.Error(), "stopped reading at line 51") {
		t.Fatalf("%d lines:\n%v", n, err)
	}
}

// TestIgnoredKeysThatContradict: an ignored key that contradicts a
// supported one is an error, not a warning.
func TestIgnoredKeysThatContradict(t *testing.T) {
	base := "use-auth-secret\nstatic-auth-secret=0123456789abcdef\n"
	for file, want := range map[string]string{
		base + "no-loopback-peers\nallow-loopback-peers":                        "c.conf:3: no-loopback-peers contradicts",
		base + "listening-ip=127.0.0.1\nalt-listening-ip=127.0.0.2\nno-rfc5780": "c.conf:5: no-rfc5780 contradicts alt-listening-ip",
		base + "rfc5780": "c.conf:3: rfc5780 needs alt-listening-ip",
		base + "listening-ip=127.0.0.1\nalt-listening-ip=127.0.0.2\nrfc5780\nno-loopback-peers": "",
	} {
		o := DefaultOptions()
		if err := o.ParseConfigFile(strings.NewReader(file), "c.conf"); err != nil {
			t.Fatal(err)
		}
		err := o.Validate()
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: %v, want %q", file, err, want)
		}
	}
}

// TestCoturnKeysDocumented: every coturn key (testdata/coturn/keys.txt:
// the long options of coturn 4.6.1's and today's turnserver, and a few
// older ones guides still use) is supported, ignored with a reason or
// refused with one, and docs/turn.md's table says which.
func TestCoturnKeysDocumented(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "coturn", "keys.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "turn.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // key -> the class its table row gives
	row := regexp.MustCompile("(?m)^\\| ((?:`[^`]+`(?:, )?)+) \\| (supported|ignored|refused) \\|")
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		for _, k := range strings.Split(m[1], ", ") {
			rows[strings.Trim(k, "`")] = m[2]
		}
	}
	sc := bufio.NewScanner(f)
	n, listed := 0, map[string]bool{}
	for sc.Scan() {
		key := strings.TrimSpace(sc.Text())
		if key == "" || key[0] == '#' {
			continue
		}
		n++
		listed[key] = true
		class := ""
		if _, ok := findOption(key); ok {
			class = "supported"
		}
		if ig, ok := ignoredKeys[key]; ok {
			class += "ignored"
			if ig.instead == "" {
				t.Errorf("%s: ignored without saying what happens instead", key)
			}
		}
		if why, ok := unsupportedKeys[key]; ok {
			class += "refused"
			if why == "" {
				t.Errorf("%s: refused without a reason", key)
			}
		}
		switch {
		case class != "supported" && class != "ignored" && class != "refused":
			t.Errorf("coturn key %s is %q: want exactly one of supported, ignored, refused", key, class)
		case rows[key] != class:
			t.Errorf("docs/turn.md's coturn table says %s is %q, the code %q", key, rows[key], class)
		}
	}
	if n < 150 {
		t.Fatalf("only %d keys read", n)
	}
	for key := range ignoredKeys {
		if !listed[key] {
			t.Errorf("ignored key %s is not a coturn key of keys.txt", key)
		}
	}
	for key := range unsupportedKeys {
		if !listed[key] {
			t.Errorf("refused key %s is not a coturn key of keys.txt", key)
		}
	}
}
