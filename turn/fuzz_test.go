package turn

import (
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
	f.Fuzz(func(t *testing.T, file string) {
		o := DefaultOptions()
		err := o.ParseConfigFile(strings.NewReader(file), "f.conf")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.conf") {
				t.Fatalf("error does not name the file: %v", err)
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
