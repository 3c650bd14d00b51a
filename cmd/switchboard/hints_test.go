package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Ways an operator gets the relay wrong, each with what every place that
// diagnoses it must say: `switchboard check`, the page's pre-call test
// and the tile of a relay-only call (browser_hints_test.go). A hint names
// the real cause and the fix, and never the cause it is not.

// brokenSetup is one such set-up.
type brokenSetup struct {
	name string
	// start runs the broken deployment; args are check's flags besides
	// the URL.
	start func(t *testing.T) (app *testApp, args []string)
	// check maps the start of a report line (after its mark) to what the
	// line and its hint must hold; a ✓ or ✗ first says which it must be.
	check   map[string][]string
	exit    int      // check's exit status
	notSaid []string // in no line of the report
	// precall maps a row of the pre-call test to what its hint must hold;
	// nil: not driven in the browser.
	precall map[string][]string
	// tile is what a relay-only call's tile must say, title and hint.
	tile []string
}

func brokenSetups() []brokenSetup {
	return []brokenSetup{{
		// -public-ip 127.0.0.2 with TURN on 127.0.0.1: browsers are sent
		// where nothing listens, while the relay answers where the page
		// came from.
		name: "public IP where nothing listens",
		start: func(t *testing.T) (*testApp, []string) {
			return startApp(t, func(c *config) { c.PublicIP, c.Echo = "127.0.0.2", true }), nil
		},
		check: map[string][]string{
			"✗ STUN 127.0.0.2:":          {"advertises 127.0.0.2, which does not reach it", "answers on the same port at 127.0.0.1:", "-public-ip"},
			"✗ TURN over UDP 127.0.0.2:": {"advertises 127.0.0.2, which does not reach it", "-public-ip"},
			"✗ TURN over TCP 127.0.0.2:": {"advertises 127.0.0.2, which does not reach it", "-public-ip"},
			"✗ Relay-only call":          {"No TURN check above got an allocation"},
		},
		exit:    1,
		notSaid: []string{"Signaling and TURN each answered", "UDP is blocked", "port is closed"},
		precall: map[string][]string{
			"stun":       {"127.0.0.2", "-public-ip"},
			"turn-udp":   {"127.0.0.2", "-public-ip"},
			"turn-tcp":   {"127.0.0.2", "-public-ip"},
			"echo-relay": {"No TURN relay answered"},
		},
		tile: []string{"TURN unreachable: turn:127.0.0.2:", "-public-ip"},
	}, {
		// The relay is reached at 127.0.0.2 but its relay sockets are on
		// 127.0.0.1: allocations succeed, nothing sent to a relayed
		// address arrives. check's own address is a loopback peer the
		// relay refuses, so check tries from a second allocation.
		name: "relayed address that does not reach the relay",
		start: func(t *testing.T) (*testApp, []string) {
			return startApp(t, func(c *config) { c.PublicIP, c.TURNAddr, c.Echo = "127.0.0.2", "127.0.0.2:0", true }), nil
		},
		check: map[string][]string{
			"✓ STUN 127.0.0.2:": nil,
			"✗ TURN over UDP 127.0.0.2:": {"hands out 127.0.0.2:", "advertises 127.0.0.2, which does not reach it", "-public-ip",
				"403 Forbidden: private peers are denied", "-allow-private-peers"},
			"✗ TURN over TCP 127.0.0.2:": {"advertises 127.0.0.2, which does not reach it"},
			"✗ Relay-only call":          {"nothing sent to its relayed addresses arrived"},
		},
		exit:    1,
		notSaid: []string{"Signaling and TURN each answered"},
		precall: map[string][]string{
			"echo-relay": {"127.0.0.2", "does not reach it", "-public-ip"},
		},
		tile: []string{"No path through the TURN relay", "127.0.0.2", "-public-ip"},
	}, {
		// A relay that works, checked from its own network: it refuses
		// check's loopback address as a peer (403), which is no fault.
		name: "private peer refused by a working relay",
		start: func(t *testing.T) (*testApp, []string) {
			return startApp(t, func(c *config) { c.PublicIP, c.TURNAddr, c.RelayBind = "127.0.0.2", "127.0.0.2:0", "127.0.0.2" }), nil
		},
		check: map[string][]string{
			"✓ TURN over UDP 127.0.0.2:": {"reachable through the relay", "403 Forbidden: private peers are denied", "-allow-private-peers"},
			"✓ TURN over TCP 127.0.0.2:": {"403 Forbidden"},
			"✓ Relay-only call":          nil,
		},
		notSaid: []string{"firewall"},
	}, {
		name: "self-signed TURN TLS certificate",
		start: func(t *testing.T) (*testApp, []string) {
			dir := t.TempDir()
			cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
			writeTestCert(t, cert, key)
			st, _ := startTurnCommand(t, fmt.Sprintf("allow-loopback-peers\ntls-listening-port=0\ncert=%s\npkey=%s\n", cert, key))
			return startApp(t, nil), []string{"-turn-url", "turns:" + st.TLSAddr().String(), "-turn-secret", turnTestSecret}
		},
		check: map[string][]string{
			"✗ TURN over TLS 127.0.0.1:": {"TURN/TLS certificate not trusted (self-signed?)", "-ca-file"},
			"✓ Relay-only call":          nil,
		},
		exit:    1,
		notSaid: []string{"Nothing accepts connections", "port is closed"},
	}}
}

// TestCheckNamesTheCause: `switchboard check` on each broken set-up says
// what is wrong with it.
func TestCheckNamesTheCause(t *testing.T) {
	parallel(t)
	for _, s := range brokenSetups() {
		t.Run(s.name, func(t *testing.T) {
			app, args := s.start(t)
			code, out := runCheck(t, append(args, app.httpURL)...)
			if code != s.exit {
				t.Errorf("exit %d, want %d", code, s.exit)
			}
			for start, parts := range s.check {
				line := reportLine(out, start)
				if line == "" {
					t.Errorf("no line %q", start)
					continue
				}
				for _, p := range parts {
					if !strings.Contains(line, p) {
						t.Errorf("%q lacks %q", line, p)
					}
				}
			}
			for _, p := range s.notSaid {
				if strings.Contains(out, p) {
					t.Errorf("the report says %q", p)
				}
			}
		})
	}
}

// reportLine returns the line of check's report that starts with start,
// with its hint, or "".
func reportLine(out, start string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, start) {
			continue
		}
		if i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "→") {
			return l + "\n" + lines[i+1]
		}
		return l
	}
	return ""
}
