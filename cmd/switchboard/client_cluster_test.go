package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/web"
)

// These tests drive web/client/client.js in Chromium against fakeSignal
// playing a cluster's nodes (docs/cluster.md): room= on every channel
// request, a move to the room's owner node, the room's relay.

// clusterHarness is clientHarness joining before it connects, as the demo
// page does, so the first channel already knows the room; it also logs
// the moving and ice-servers events.
const clusterHarness = `(async () => {
	const { SignalingClient } = await import("/client/v1/client.js");
	const log = [];
	const client = new SignalingClient(location.origin, Object.assign(
		{ backoffBase: 100, backoffCap: 1000, connectTimeout: 3000, stableAfter: 60000 }, %s));
	for (const type of ["state", "welcome", "resumed", "resume-failed", "joined", "message", "close", "error", "moving", "ice-servers"]) {
		client.addEventListener(type, (e) => log.push({ ...e.detail, event: type }));
	}
	window.t = { client, log, count: (event) => log.filter((e) => e.event === event).length };
	const joined = client.join("room1");
	joined.catch((e) => log.push({ event: "join-error", code: e.code }));
	client.connect();
	return "";
})()`

// Every request of every channel carries room=room1: the first, the
// resumes after a cut, the POSTs of SSE and polling, the bye.
func TestClientRoomParam(t *testing.T) {
	t.Parallel()
	b := newBrowser(t, findChromium(t))
	for _, kind := range []string{"ws", "sse", "poll"} {
		t.Run(kind, func(t *testing.T) {
			fake := newFakeSignal()
			fake.pollWait = 300 * time.Millisecond
			env := startHarness(t, b, fake, clusterHarness, `{ transports: ["`+kind+`"] }`)
			deadline := time.Now().Add(clientBudget)
			p := env.page
			p.waitFor(t, deadline, "joined", `window.t.count("joined") === 1 && window.t.client.connected ? "" : "not joined"`)
			fake.push(0, fakeMessage("m1"))
			p.waitFor(t, deadline, "m1", messagesExpr("m1"))
			env.proxy.dropAll()
			fake.push(0, fakeMessage("m2"))
			p.waitFor(t, deadline, "m2 after the cut", messagesExpr("m1", "m2"))
			if ok, err := eval[bool](p, `window.t.client.message("up")`); err != nil || !ok {
				t.Fatalf("message: %v, %v", ok, err)
			}
			eventually(t, deadline, "the message", func() string {
				if got := fake.snapshot().received; !slices.Contains(got, "message") {
					return fmt.Sprint(got)
				}
				return ""
			})
			if _, err := eval[bool](p, `window.t.client.disconnect(), true`); err != nil {
				t.Fatal(err)
			}
			eventually(t, deadline, "bye", func() string {
				if got := fake.snapshot().received; !slices.Contains(got, "bye") {
					return fmt.Sprint(got)
				}
				return ""
			})
			reqs := fake.snapshot().requests
			var channel, posts int
			for _, r := range reqs {
				if !strings.Contains(r, " /v1/") || strings.Contains(r, "/v1/ice-servers") {
					continue // ICE servers and probes are no channel requests
				}
				if !strings.Contains(r, " room=room1 ") {
					t.Errorf("a request without room=room1: %q", r)
				}
				if strings.Contains(r, "POST /v1/send") {
					posts++
				} else {
					channel++
				}
			}
			if channel < 2 || (kind != "ws" && posts == 0) {
				t.Errorf("want a reconnect and (not on ws) POSTs; got %q", reqs)
			}
		})
	}
}

// A joined frame that names another node of the page's host as the
// room's owner moves the session there over WebSocket: one session,
// joined once, every event handled once and in order across the move,
// what the page sends afterwards reaches the server once. The room's relay
// from joined replaces the session's, announced before joined. An owner
// that cannot be reached sends the client back home, once.
func TestClientFollowsOwner(t *testing.T) {
	t.Parallel()
	b := newBrowser(t, findChromium(t))
	relay := []any{map[string]any{"urls": []string{"turn:127.0.0.1:3479?transport=udp"}, "username": "1:S001", "credential": "c"}}
	for _, tc := range []struct {
		name      string
		reachable bool
	}{{"reachable", true}, {"unreachable", false}} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeSignal()
			owner := "http://" + serveFake(t, fake.handlerAs("owner"))
			if !tc.reachable {
				owner = fmt.Sprintf("http://127.0.0.1:%d", freeTCPPort(t))
			}
			fake.joined = map[string]any{"owner": owner, "iceServers": relay, "ttl": 600}
			env := startHarness(t, b, fake, clusterHarness, `{}`)
			deadline := time.Now().Add(clientBudget)
			p := env.page
			p.waitFor(t, deadline, "the join on the home node", `window.t.count("joined") === 1 ? "" : "not joined"`)
			fake.push(0, fakeMessage("m1")) // while the client moves
			p.waitFor(t, deadline, "the move", `(() => {
				const m = window.t.log.find((e) => e.event === "moving");
				return m && m.to === `+jsString(owner)+` ? "" : "no move";
			})()`)
			p.waitFor(t, deadline, "connected again", `window.t.client.connected && window.t.count("resumed") >= 1 ? "" : "not resumed"`)
			fake.push(0, fakeMessage("m2"))
			p.waitFor(t, deadline, "m1, m2 once each", messagesExpr("m1", "m2"))
			if ok, err := eval[bool](p, `window.t.client.message("up")`); err != nil || !ok {
				t.Fatalf("message: %v, %v", ok, err)
			}
			eventually(t, deadline, "the message", func() string {
				if got := fake.snapshot().received; countOf(got, "message") != 1 {
					return fmt.Sprint(got)
				}
				return ""
			})
			wantBase := owner
			if !tc.reachable {
				wantBase = env.proxy.url
			}
			p.waitFor(t, deadline, "one session, joined once, nothing lost, on "+wantBase, `(() => {
				const t = window.t, c = t.client;
				if (t.count("welcome") !== 1) return t.count("welcome") + " welcomes";
				if (t.count("joined") !== 1) return t.count("joined") + " joined";
				if (t.count("moving") !== 1) return t.count("moving") + " moves";
				if (t.count("resume-failed") !== 0) return "resume failed";
				const bad = t.log.filter((e) => e.event === "error");
				if (bad.length) return "errors " + JSON.stringify(bad);
				if (c.channelOrigin !== `+jsString(wantBase)+`) return "channels go to " + c.channelOrigin;
				const ice = t.log.findIndex((e) => e.event === "ice-servers" && e.room === "room1");
				if (ice < 0 || ice > t.log.findIndex((e) => e.event === "joined")) return "no ice-servers before joined";
				return JSON.stringify(c.iceServers) === `+jsString(string(jsonOf(relay)))+` ? "" : "ice servers " + JSON.stringify(c.iceServers);
			})()`)
			snap := fake.snapshot()
			if slices.Contains(snap.received, "bye") || snap.sessions != 1 {
				t.Errorf("want one session and no bye; got %+v", snap)
			}
			var resumedOnOwner bool
			for _, r := range snap.requests {
				resumedOnOwner = resumedOnOwner || strings.HasPrefix(r, "owner GET /v1/ws room=room1 token=T001")
			}
			if resumedOnOwner != tc.reachable {
				t.Errorf("resumed on the owner: %v, want %v; requests %q", resumedOnOwner, tc.reachable, snap.requests)
			}
		})
	}
}

// The demo page joins before it connects, so its very first channel
// carries room=, and a peer connection it makes after joined uses the
// room's relay from joined rather than the session's from welcome.
func TestBrowserRoomRelay(t *testing.T) {
	t.Parallel()
	b := newBrowser(t, findChromium(t))
	fake := newFakeSignal()
	relay := []any{map[string]any{"urls": []string{"turn:127.0.0.1:3479?transport=udp"}, "username": "1:S001", "credential": "c"}}
	fake.joined = map[string]any{"iceServers": relay, "ttl": 600, "peers": []any{map[string]any{"id": "PEER", "name": "grace"}}}
	mux := http.NewServeMux()
	mux.Handle("/v1/", fake.handler())
	mux.Handle("/", web.ClusterHandler())
	page := b.openCall(t, "page", "http://"+serveFake(t, mux)+"/?room=room1&name=ada&autojoin=1")
	t.Cleanup(func() {
		if t.Failed() {
			page.dumpHarness(t, fake)
		}
		page.close()
	})
	page.waitFor(t, time.Now().Add(clientBudget), "a peer connection on the room's relay", `(() => {
		const pc = window.switchboard.peerConnectionObjects().PEER;
		if (!pc) return "no peer connection";
		const urls = pc.getConfiguration().iceServers.flatMap((s) => s.urls);
		return urls.includes("turn:127.0.0.1:3479?transport=udp") ? "" : "ice servers " + JSON.stringify(urls);
	})()`)
	for _, r := range fake.snapshot().requests {
		if strings.Contains(r, " /v1/ws ") && !strings.Contains(r, "room=room1 ") {
			t.Errorf("a channel without room=room1: %q", r)
		}
	}
}
