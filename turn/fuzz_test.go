package turn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1700000000:alice", "1700000000", ":x", "-5:x", "+9:x", "99999999999999999999:x", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, username string) {
		expiry, user, err := parseUsername(username)
		if err != nil {
			return
		}
		if expiry.Unix() <= 0 {
			t.Fatalf("%q: accepted non-positive expiry", username)
		}
		if !strings.HasSuffix(username, user) {
			t.Fatalf("%q: user %q is not the tail", username, user)
		}
	})
}

// FuzzConfigFile: any file parses to options or an error naming a line,
// never a panic; accepted options pass check or fail it with an error.
func FuzzConfigFile(f *testing.F) {
	f.Add(fullConfig)
	f.Add("listening-port=3478\nuse-auth-secret\nstatic-auth-secret=0123456789abcdef\n")
	f.Add("denied-peer-ip=10.0.0.0-10.255.255.255\nallowed-peer-ip 10.1.2.3\n")
	f.Add("user=a:0x00112233445566778899aabbccddeeff\nexternal-ip=1.2.3.4/10.0.0.1\n")
	// The coturn configs of the tests: Debian's stock file, a guide's, and
	// one with a problem on every line.
	files, _ := filepath.Glob(filepath.Join("testdata", "coturn", "*.conf"))
	if len(files) < 3 {
		f.Fatalf("coturn configs missing from testdata: %v", files)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, file string) {
		o := DefaultOptions()
		err := o.ParseConfigFile(strings.NewReader(file), "f.conf")
		for _, ig := range o.Ignored() {
			if !strings.HasPrefix(ig.At, "f.conf:") || ig.Instead == "" {
				t.Fatalf("ignored key without its line or what happens instead: %+v", ig)
			}
		}
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.conf") {
					t.Fatalf("a problem does not name the file: %q", line)
				}
			}
			return
		}
		cfg, err := o.check()
		if err != nil {
			return
		}
		if cfg.RelayPortMin < 1 || cfg.RelayPortMax > 65535 || cfg.RelayPortMin > cfg.RelayPortMax || cfg.PublicIP == nil {
			t.Fatalf("accepted %+v", cfg)
		}
	})
}
