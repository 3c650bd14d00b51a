package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// climbLimit is how soon after a restart a page that had fallen back must
// be on WebSocket again (issue 19).
const climbLimit = 30 * time.Second

// TestBrowserRestartKeepsCall: two Chromium tabs in a call when their
// single node restarts gracefully. The call is relayed by a `switchboard
// turn` of its own (-turn-urls): a restart of the node keeps sessions,
// not the bundled relay's allocations. Each tab keeps its session and its
// RTCPeerConnection, never loses its peer (no peer-left), and the remote
// video keeps decoding. The channels: on WebSocket, a restart that
// refuses connections for a while (SIGTERM, then the next process) must
// not demote it; pages that fell back to an event stream or to polling
// (their proxy refused WebSocket, and event streams, until the restart)
// resume there across an overlapping restart (the next process started
// first on the same port and state file), then are back on WebSocket
// within climbLimit.
func TestBrowserRestartKeepsCall(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	for _, tc := range []restartCase{
		{alice: "ws", bob: "ws"},
		{alice: "sse", bob: "poll", overlap: true},
	} {
		t.Run(tc.alice+"-"+tc.bob, func(t *testing.T) { browserRestart(t, chromium, tc) })
	}
}

// restartCase: the channel each tab is on when the node restarts (sse
// and poll: fallen back, not forced), and whether the next process
// starts before the old one stops.
type restartCase struct {
	alice, bob string
	overlap    bool
}

// channelGate is a reverse proxy in front of a node that answers the
// channels before a page's (WebSocket, then event stream) 403 until
// opened: a page behind it falls back as it would behind a proxy that
// does not pass them, while plain HTTP works.
type channelGate struct {
	url    string
	closed []string // paths refused
	open   atomic.Bool
}

func newChannelGate(t *testing.T, backend, fallback string) *channelGate {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	g := &channelGate{closed: map[string][]string{"sse": {"/v1/ws"}, "poll": {"/v1/ws", "/v1/sse"}}[fallback]}
	transport := &http.Transport{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = transport
	proxy.FlushInterval = -1 // event streams as they come
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range g.closed {
			if r.URL.Path == p && !g.open.Load() {
				http.Error(w, "not through this proxy", http.StatusForbidden)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		transport.CloseIdleConnections()
	})
	g.url = srv.URL
	return g
}

func browserRestart(t *testing.T, chromium string, tc restartCase) {
	first, stateFile, nodeArgs := startRelayedNode(t)
	addr := httpAddrInLog.FindStringSubmatch(first.waitLogged(t))[1]
	base := "http://" + addr

	b := newBrowser(t, chromium)
	deadline := time.Now().Add(browserBudget)
	room := fmt.Sprintf("restart-%d", time.Now().UnixNano())
	var gates []*channelGate
	page := func(name, transport string) string {
		if transport == "ws" {
			return callPageURL(base, room, name, "")
		}
		g := newChannelGate(t, base, transport)
		gates = append(gates, g)
		return callPageURL(g.url, room, name, "") // not forced: fallen back
	}
	alice := b.openCall(t, "Alice", page("Alice", tc.alice))
	bob := b.openCall(t, "Bob", page("Bob", tc.bob))
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	waitForCall(t, deadline, alice, bob)
	for i, tb := range []*tab{alice, bob} {
		transport := []string{tc.alice, tc.bob}[i]
		tb.waitFor(t, deadline, "signaling on "+transport, fmt.Sprintf(`(() => {
			const s = window.switchboard;
			return s.connected && s.transport === %q ? "" : "connected " + s.connected + ", transport " + s.transport; })()`, transport))
	}
	before := callCounters(t, alice, bob)
	// From now on each page notes any moment its peer is missing or not
	// connected, and any "left" in its chat.
	for _, tb := range []*tab{alice, bob} {
		if _, err := eval[bool](tb, `(() => {
			window.restartWatch = [];
			setInterval(() => {
				const peers = Object.values(window.switchboard.peers);
				if (window.restartWatch.length >= 20) return;
				if (peers.length !== 1) window.restartWatch.push(peers.length + " peers");
				else if (peers[0].connectionState !== "connected") window.restartWatch.push("connection " + peers[0].connectionState);
				for (const c of window.switchboard.chat) if (/ left$/.test(c.text)) window.restartWatch.push("chat: " + c.text);
			}, 50);
			return true; })()`); err != nil {
			t.Fatal(err)
		}
	}
	framesBefore := []int{remoteFrames(t, alice), remoteFrames(t, bob)}

	var second *nodeProcess
	if tc.overlap {
		second = startNode(t, addr, stateFile, "waiting for the switchboard on this state file", nodeArgs...)
		first.stop(t)
	} else {
		first.stop(t) // refused from now until the next process listens
		second = startNode(t, addr, stateFile, "switchboard started", nodeArgs...)
	}
	restarted := time.Now()
	// The proxies pass every channel from now on: the pages, on their
	// fallback until now, must find out by themselves that WebSocket
	// works again.
	for _, g := range gates {
		g.open.Store(true)
	}
	if line := second.logLine(t, "sessions restored from the state file"); !strings.Contains(line, "sessions=2") {
		t.Fatalf("restored: %s", line)
	}
	// Each page resumes, and is on WebSocket: still (a refused connection
	// says nothing against it) or again (climbed back from its fallback).
	for i, tb := range []*tab{alice, bob} {
		tb.waitFor(t, restarted.Add(climbLimit), "a resume, on WebSocket", fmt.Sprintf(`(() => {
			const s = window.switchboard;
			return s.resumes > %d && s.connected && s.transport === "ws" ? "" : "resumes " + s.resumes + ", connected " + s.connected + ", transport " + s.transport;
		})()`, before[i].Resumes))
	}
	t.Logf("on WebSocket %v after the restart", time.Since(restarted).Round(time.Millisecond))
	for i, tb := range []*tab{alice, bob} {
		climbs := 0
		if []string{tc.alice, tc.bob}[i] != "ws" {
			climbs = 1
		}
		moves, err := eval[string](tb, `JSON.stringify([window.switchboard.fallbacks, window.switchboard.climbs])`)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("[%d,%d]", before[i].Fallbacks, climbs); moves != want {
			t.Errorf("%s: [fallbacks, climbs] %s, want %s: only a fallback's proxy may demote a channel, and a page climbs back once", tb.name, moves, want)
		}
	}
	// Two seconds of the call on the next process: frames keep coming.
	settle := time.Now().Add(2 * time.Second)
	for _, tb := range []*tab{alice, bob} {
		tb.waitFor(t, settle.Add(10*time.Second), "two seconds after the resume", fmt.Sprintf(`Date.now() >= %d ? "" : "waiting"`, settle.UnixMilli()))
	}
	after := callCounters(t, alice, bob)
	for i, tb := range []*tab{alice, bob} {
		if after[i].Session != before[i].Session || after[i].Sessions != before[i].Sessions || after[i].PeerConnections != before[i].PeerConnections {
			t.Errorf("%s: before %+v, after %+v: want the same session and RTCPeerConnection", tb.name, before[i], after[i])
		}
		if watch, err := eval[[]string](tb, `window.restartWatch`); err != nil || len(watch) > 0 {
			t.Errorf("%s: the call faltered across the restart: %v (%v)", tb.name, watch, err)
		}
		if n := remoteFrames(t, tb); n <= framesBefore[i] {
			t.Errorf("%s: remote video frames %d, %d before the restart: not decoding", tb.name, n, framesBefore[i])
		}
	}
}
