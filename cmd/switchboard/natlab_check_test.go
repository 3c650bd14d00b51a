package main

import (
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-rtc/switchboard/cmd/switchboard/check"
	"github.com/switchboard-rtc/switchboard/cmd/switchboard/internal/natlab"
)

// checkVerdict is what `switchboard check` must say from behind each
// router: the line that carries the verdict, whether it passes, and a
// piece of its hint ("" for none).
var checkVerdict = map[string]struct {
	line, hint string
	ok         bool
}{
	"eim-eif":  {"NAT behaviour", "", true},
	"eim-adf":  {"NAT behaviour", "", true},
	"eim-apdf": {"NAT behaviour", "except with peers behind a symmetric NAT", true},
	"apdm":     {"NAT behaviour", "Symmetric NAT: direct calls will fail", true},
	"tcp-only": {"TURN over UDP to " + natlab.Pub.String(), "UDP is blocked on the way to the relay: calls from here will use TURN over TCP or TLS, expect higher latency", false},
	"tcp443":   {"TURN over UDP to " + natlab.Pub.String(), "UDP is blocked on the way to the relay: calls from here will use TURN over TLS, expect higher latency", false},
}

// TestNATCheck runs `switchboard check` (this binary) in every client
// network of the lab: each gets the verdict and hint its router calls for,
// and a relay-only call that connects; only the networks without UDP have
// failing lines (STUN, TURN over UDP, and TCP 3478 where only 443 is
// open), and TURN over TCP, or over TLS on the HTTPS port, passes there.
func TestNATCheck(t *testing.T) {
	parallel(t)
	l := natlab.Start(t)
	srv := startLabServer(t, l)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, n := range l.Networks {
		want := checkVerdict[n.Behaviour]
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := l.Command(l.ClientNS(n.Name), exe, "check", "-json", srv.httpURL)
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			out, _ := cmd.Output()
			var report struct {
				Results []check.Result `json:"results"`
			}
			if err := json.Unmarshal(out, &report); err != nil {
				t.Errorf("%s: %v\n%s", n.Name, err, out)
				return
			}
			byName := map[string]check.Result{}
			for _, r := range report.Results {
				byName[r.Check] = r
				if !r.OK && n.UDP() {
					t.Errorf("%s: %s failed: %s (%s)", n.Name, r.Check, r.Detail, r.Hint)
				}
			}
			v, found := byName[want.line]
			switch {
			case !found:
				t.Errorf("%s: no %q line in %s", n.Name, want.line, out)
			case v.OK != want.ok || !strings.Contains(v.Hint, want.hint) || (want.hint == "" && v.Hint != ""):
				t.Errorf("%s: %s: ok %v, %q (hint %q); want ok %v, hint with %q", n.Name, want.line, v.OK, v.Detail, v.Hint, want.ok, want.hint)
			}
			if r := byName["Relay-only call between two peers"]; !r.OK {
				t.Errorf("%s: relay-only call: %s (%s)", n.Name, r.Detail, r.Hint)
			}
			stream := "TURN over TLS " + natlab.Pub.String() + ":443" // the HTTPS port
			if n.Behaviour == "tcp-only" {
				stream = "TURN over TCP " + natlab.Pub.String() + ":3478"
			}
			if r := byName[stream]; !r.OK {
				t.Errorf("%s: %s: %s (%s)", n.Name, stream, r.Detail, r.Hint)
			}
			t.Logf("%s (%s): %s: %s %s", n.Name, n.Behaviour, want.line, v.Detail, v.Hint)
		}()
	}
	wg.Wait()
}
