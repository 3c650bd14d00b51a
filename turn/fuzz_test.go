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
