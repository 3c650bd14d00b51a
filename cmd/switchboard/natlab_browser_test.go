package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-rtc/switchboard/cmd/switchboard/internal/natlab"
)

// newBrowserIn starts headless Chromium inside namespace ns: chromedp
// talks to it over --remote-debugging-pipe, whose descriptors pass
// through `ip netns exec`, so a wrapper that enters the namespace is all
// it takes.
func newBrowserIn(t *testing.T, l *natlab.Lab, ns, chromium string) *browser {
	t.Helper()
	wrapper := filepath.Join(t.TempDir(), "chromium-in-"+ns)
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns, chromium)
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	// The lab's certificate, trusted by its key alone, as this process
	// trusts it through SSL_CERT_FILE: Chromium reads its own store.
	pemBytes, err := os.ReadFile(labCertFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return newBrowser(t, wrapper, chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))
}

// TestNATBrowserBadge: the demo page in headless Chromium, one browser in
// each of two lab networks, calls through switchboard, and each tile's
// badge names the path the selected pair takes: "Direct" between the
// full-cone and the address-restricted network, "Relayed (UDP)" between
// the home router and the symmetric NAT, "Relayed (TLS)" from the network
// that reaches only TCP 443 (TURN over TLS on the HTTPS port).
func TestNATBrowserBadge(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	if _, err := os.Stat("/tmp/bench.lock"); err == nil && os.Getenv("CI") != "true" {
		t.Skip("/tmp/bench.lock: the machine is being benchmarked")
	}
	l := natlab.Start(t)
	srv := startLabServer(t, l)
	for _, tc := range []struct{ a, b, badgeA, badgeB string }{
		{"full", "addr", "Direct", "Direct"},
		{"port", "sym", "Relayed (UDP)", "Relayed (UDP)"},
		// TCP 443 only: TURN over TLS on the HTTPS port. The other side
		// may reach the relayed address from its own socket ("Relayed").
		{"tls", "port", "Relayed (TLS)", "Relayed"},
	} {
		t.Run(tc.a+"-"+tc.b, func(t *testing.T) {
			deadline := time.Now().Add(90 * time.Second)
			room := fmt.Sprintf("badge-%s-%d", tc.a, time.Now().UnixNano())
			page := func(name string) string {
				return srv.httpURL + "/?room=" + room + "&name=" + name + "&autojoin=1"
			}
			alice := newBrowserIn(t, l, l.ClientNS(tc.a), chromium).openCall(t, tc.a, page(tc.a))
			bob := newBrowserIn(t, l, l.ClientNS(tc.b), chromium).openCall(t, tc.b, page(tc.b))
			for tb, want := range map[*tab]string{alice: tc.badgeA, bob: tc.badgeB} {
				tb.waitFor(t, deadline, "badge "+want, `(() => {
					const p = Object.values(window.switchboard.peers)[0];
					if (!p || p.connectionState !== "connected") return "not connected: " + (p ? p.connectionState : "no peer");
					const badge = document.querySelector("#tiles .tile.remote .tile-status");
					const text = badge ? badge.textContent : "";
					return text.startsWith(`+jsString(want)+`) ? "" : "badge " + JSON.stringify(text) + ", pair " + p.iceCandidatePairType + "/" + p.remoteCandidateType + "/" + p.relayProtocol;
				})()`)
			}
			for _, tb := range []*tab{alice, bob} {
				for _, p := range tb.problemLines() {
					t.Errorf("%s: %s", tb.name, p)
				}
			}
		})
	}
}

// TestNATBrowserICERestart: mid-call, the symmetric router forgets its
// mappings (its conntrack table is flushed), so the relayed path of the
// peer behind it is gone (its next datagrams leave from new ports the
// relay knows nothing of), and so is its signaling connection. The page
// restarts ICE 2 s after the connection turns "disconnected" and the call
// is connected again within 10 s of that.
func TestNATBrowserICERestart(t *testing.T) {
	chromium := findChromium(t)
	if _, err := exec.LookPath("conntrack"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("conntrack not installed (apt-get install conntrack)")
		}
		t.Skip("conntrack not installed (apt-get install conntrack)")
	}
	l := natlab.Start(t)
	srv := startLabServer(t, l)
	deadline := time.Now().Add(90 * time.Second)
	room := fmt.Sprintf("restart-%d", time.Now().UnixNano())
	page := func(name string) string { return srv.httpURL + "/?room=" + room + "&name=" + name + "&autojoin=1" }
	ba, bb := newBrowserIn(t, l, l.ClientNS("port"), chromium), newBrowserIn(t, l, l.ClientNS("sym"), chromium)
	alice, bob := ba.openCall(t, "port", page("port")), bb.openCall(t, "sym", page("sym"))
	t.Cleanup(func() {
		if t.Failed() {
			ba.dump(t)
			bb.dump(t)
		}
	})
	const connected = `(() => {
		const p = Object.values(window.switchboard.peers)[0];
		return p && p.connectionState === "connected" ? "" : "not connected: " + (p ? p.connectionState : "no peer");
	})()`
	for _, tb := range []*tab{alice, bob} {
		tb.waitFor(t, deadline, "a connected call", connected)
	}
	// Each page counts its connection's state changes away from connected.
	for _, tb := range []*tab{alice, bob} {
		if _, err := eval[bool](tb, `(() => {
			window.__lost = 0;
			const pc = Object.values(window.switchboard.peers)[0];
			setInterval(() => {
				const s = Object.values(window.switchboard.peers)[0].connectionState;
				if (s !== "connected" && !window.__down) { window.__down = true; window.__lost++; }
				if (s === "connected") window.__down = false;
			}, 100);
			return true;
		})()`); err != nil {
			t.Fatal(err)
		}
	}
	flushed := time.Now()
	if out, err := l.Command(l.RouterNS("sym"), "conntrack", "-F").CombinedOutput(); err != nil {
		t.Fatalf("conntrack -F: %v\n%s", err, out)
	}
	bob.waitFor(t, flushed.Add(20*time.Second), "the call to drop", `window.__lost > 0 ? "" : "still connected"`)
	dropped := time.Now()
	for _, tb := range []*tab{alice, bob} {
		tb.waitFor(t, dropped.Add(30*time.Second), "the call back", `window.__lost > 0 && !window.__down ? "" : "lost " + window.__lost + ", down " + window.__down`)
	}
	// Chromium notices the lost path by itself (its checks go unanswered
	// for some 5 s); from there the page's restart is what counts.
	took := time.Since(dropped)
	t.Logf("the page saw the call drop %v after the flush and had it back %v later",
		dropped.Sub(flushed).Round(100*time.Millisecond), took.Round(100*time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("recovery took %v after the drop, want at most 10 s", took)
	}
}
