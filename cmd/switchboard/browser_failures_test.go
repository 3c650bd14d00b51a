package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// Failures a person can see and act on: a TURN server that cannot be
// reached, a signaling outage, a camera the browser refuses.

// connectBound is health.js's CONNECT_BOUND: how long a connection may
// take before its tile says what failed.
const connectBound = 15 * time.Second

// TestBrowserTurnUnreachable: the server advertises a TURN address nobody
// listens on (a -public-ip of 127.0.0.2 while the relay listens on
// 127.0.0.1), and the pages are relay-only: within the bound each tile
// says "TURN unreachable" with the URL, and a hint.
func TestBrowserTurnUnreachable(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	app := startApp(t, func(c *config) { c.PublicIP = "127.0.0.2" })
	b := newBrowser(t, chromium)
	deadline := time.Now().Add(connectBound + 10*time.Second)
	room := fmt.Sprintf("noturn-%d", time.Now().UnixNano())
	alice := b.openCall(t, "Alice", callPageURL(app.httpURL, room, "Alice", "ws"))
	bob := b.openCall(t, "Bob", callPageURL(app.httpURL, room, "Bob", "ws"))
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	want := fmt.Sprintf("TURN unreachable: turn:127.0.0.2:%d", app.turnUDP.Port)
	for _, tb := range []*tab{alice, bob} {
		defineOverlap(t, tb)
		tb.waitFor(t, deadline, "the tile to say TURN is unreachable", `(() => {
			const tile = document.querySelector("#tiles .tile.remote");
			if (!tile) return "no remote tile";
			const box = tile.querySelector(".tile-problem");
			const title = box.querySelector(".problem-title").textContent;
			const hint = box.querySelector(".problem-hint").textContent;
			if (box.hidden || box.getBoundingClientRect().height === 0) return "no problem shown; status " + tile.querySelector(".tile-status").textContent;
			if (!title.startsWith(`+jsString(want)+`)) return "title " + title;
			if (!hint.includes("TURN port")) return "hint " + hint;
			// The self overlay does not cover the problem (issue 20).
			const pip = document.querySelector("#tiles .tile.pip");
			return pip && overlap(pip.getBoundingClientRect(), box.getBoundingClientRect()) ? "the self view covers the problem" : "";
		})()`)
		tb.mu.Lock()
		logged := strings.Contains(strings.Join(tb.console, "\n"), want)
		tb.mu.Unlock()
		if !logged {
			t.Errorf("%s: the console does not say %q", tb.name, want)
		}
	}
	b.screenshots(t, alice)
}

// TestBrowserOutage: the server becomes unreachable for Alice during a
// call. Her page shows a banner with a countdown that runs, "Reconnect
// now" tries at once, chat is disabled with the reason, retries stay
// within the server's resume grace; when the server is back the session
// resumes and both sides keep the same RTCPeerConnections, with frames
// still decoding and nobody shown as having left.
func TestBrowserOutage(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	app := startApp(t, nil)
	b := newBrowser(t, chromium)
	deadline := time.Now().Add(90 * time.Second)
	room := fmt.Sprintf("outage-%d", time.Now().UnixNano())
	proxy := startDropProxy(t, strings.TrimPrefix(app.httpURL, "http://"))
	alice := b.openCall(t, "Alice", callPageURL(proxy.url, room, "Alice", "ws"))
	bob := b.openCall(t, "Bob", callPageURL(app.httpURL, room, "Bob", "ws"))
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	waitForCall(t, deadline, alice, bob)
	before := callCounters(t, alice, bob)
	for _, tb := range []*tab{alice, bob} {
		if _, err := eval[bool](tb, `(() => {
			window.keptPCs = window.switchboard.peerConnectionObjects();
			window.bannerTexts = [];
			new MutationObserver(() => window.bannerTexts.push(document.getElementById("outage-text").textContent))
				.observe(document.getElementById("outage-text"), {childList: true, characterData: true, subtree: true});
			return true; })()`); err != nil {
			t.Fatal(err)
		}
	}

	proxy.down.Store(true)
	proxy.dropAll()
	alice.waitFor(t, deadline, "the outage banner with a countdown that runs", `(() => {
		if (document.getElementById("outage").hidden) return "no banner";
		const n = window.bannerTexts.map((s) => (s.match(/Retrying in (\d+) s/) || [])[1]).map(Number);
		for (let i = 1; i < n.length; i++) if (n[i - 1] >= 1 && n[i] === n[i - 1] - 1) return "";
		return "banner texts " + JSON.stringify(window.bannerTexts.slice(-6));
	})()`)
	// The banner takes its own room: the room's title and the chat's
	// header stay uncovered (issue 20).
	alice.waitFor(t, deadline, "the banner beside the title and the chat header, not over them", `(() => {
		const banner = document.getElementById("outage").getBoundingClientRect();
		for (const sel of [".room-title", ".chat-head"]) {
			const r = document.querySelector(sel).getBoundingClientRect();
			if (r.width === 0) return sel + " not shown";
			const hit = document.elementFromPoint(r.left + Math.min(r.width, 40) / 2, r.top + r.height / 2);
			if (!hit || !hit.closest(sel)) return sel + " covered by " + (hit ? hit.id || hit.className : "nothing");
			if (r.top < banner.bottom && r.bottom > banner.top && r.left < banner.right && r.right > banner.left) return sel + " under the banner";
		}
		return "";
	})()`)
	b.screenshots(t, alice)
	alice.waitFor(t, deadline, "chat disabled with the reason", `(() => {
		const input = document.getElementById("chat-input"), why = document.getElementById("chat-offline");
		return input.disabled && document.getElementById("chat-send").disabled && !why.hidden && why.textContent.includes("Offline") ? "" : "input disabled " + input.disabled + ", reason " + why.textContent;
	})()`)

	// "Reconnect now" starts an attempt at once, well before the countdown
	// ends; pressing it again and again drives the backoff up, and it must
	// still stay within the resume grace (5 s).
	for i := 0; ; i++ {
		alice.waitFor(t, deadline, "the Reconnect now button", `document.getElementById("reconnect-now").disabled ? "disabled" : ""`)
		n, err := eval[int](alice, `window.switchboard.reconnectDelays.length`)
		if err != nil {
			t.Fatal(err)
		}
		if n >= 7 {
			break
		}
		left, err := eval[int](alice, `+((document.getElementById("outage-text").textContent.match(/in (\d+) s/) || [])[1] || 0)`)
		if err != nil {
			t.Fatal(err)
		}
		clickAt := time.Now()
		click(t, alice, "reconnect-now")
		alice.waitFor(t, deadline, "a new attempt", fmt.Sprintf(`window.switchboard.reconnectDelays.length > %d ? "" : "no attempt yet"`, n))
		if took := time.Since(clickAt); left >= 3 && took > 2*time.Second {
			t.Errorf("Reconnect now with %d s on the countdown took %v to try", left, took)
		}
	}
	delays, err := eval[[]int](alice, `window.switchboard.reconnectDelays`)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range delays {
		if d > 5000 {
			t.Errorf("a retry waited %d ms while the session could be resumed (delays %v)", d, delays)
		}
	}

	proxy.down.Store(false)
	click(t, alice, "reconnect-now")
	alice.waitFor(t, deadline, "the session back, banner gone, chat enabled", `(() => {
		const s = window.switchboard;
		if (!s.connected) return "not connected";
		if (!document.getElementById("outage").hidden) return "banner still shown";
		return document.getElementById("chat-input").disabled ? "chat disabled" : "";
	})()`)
	after := callCounters(t, alice, bob)
	for i, name := range []string{"Alice", "Bob"} {
		if after[i].Session != before[i].Session || after[i].Sessions != before[i].Sessions || after[i].PeerConnections != before[i].PeerConnections {
			t.Errorf("%s: the outage started over: before %+v, after %+v", name, before[i], after[i])
		}
	}
	for _, tb := range []*tab{alice, bob} {
		tb.waitFor(t, deadline, "the same connection, frames still decoding, nobody left", `(() => {
			const now = window.switchboard.peerConnectionObjects();
			const ids = Object.keys(window.keptPCs);
			if (ids.length !== 1 || Object.keys(now).length !== 1 || now[ids[0]] !== window.keptPCs[ids[0]]) return "RTCPeerConnection replaced";
			const left = [...document.querySelectorAll("#chat-log .msg.system")].filter((li) => li.textContent.endsWith(" left"));
			if (left.length) return "saw " + left[0].textContent;
			const v = document.querySelector("#tiles .tile.remote video");
			const frames = v.getVideoPlaybackQuality().totalVideoFrames;
			if (window.framesAtCheck === undefined || frames <= window.framesAtCheck) { window.framesAtCheck = frames; return "frames " + frames; }
			return window.switchboard.peers[ids[0]].connectionState === "connected" ? "" : "not connected";
		})()`)
	}
	alice.chat(t, "Back after the outage")
	bob.waitForChat(t, deadline, "Alice", "Back after the outage")
	b.screenshots(t, alice)
	for _, tb := range b.tabs {
		for _, p := range tb.problemLines() {
			t.Errorf("%s: %s", tb.name, p)
		}
	}
}

// TestBrowserMediaDenied: with camera and microphone blocked for the
// site, the page joins with the test pattern, says how to allow them and
// offers Retry; once allowed, Retry sends the camera on the same
// connection.
func TestBrowserMediaDenied(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	app := startApp(t, nil)
	// Without the fake prompt, the browser asks the site's permission.
	b := newBrowser(t, chromium, chromedp.Flag("use-fake-ui-for-media-stream", false))
	deadline := time.Now().Add(60 * time.Second)
	setMedia := func(setting cdpbrowser.PermissionSetting) {
		t.Helper()
		for _, name := range []string{"camera", "microphone"} {
			err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				_, err := chromedp.Call(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
					Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: setting, Origin: app.httpURL,
				})
				return err
			}))
			if err != nil {
				t.Fatalf("set %s permission: %v", name, err)
			}
		}
	}
	setMedia(cdpbrowser.PermissionSettingDenied)
	room := fmt.Sprintf("denied-%d", time.Now().UnixNano())
	alice := b.openCall(t, "Alice", callPageURL(app.httpURL, room, "Alice", "ws"))
	bob := b.openCall(t, "Bob", callPageURL(app.httpURL, room, "Bob", "ws"))
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	for _, tb := range []*tab{alice, bob} {
		tb.waitFor(t, deadline, "the blocked-camera notice with Retry", `(() => {
			const s = window.switchboard;
			if (s.mediaProblem !== "denied") return "media problem " + s.mediaProblem + ", mode " + s.mediaMode;
			const box = document.getElementById("media-notice");
			if (box.hidden) return "no notice";
			if (!box.textContent.includes("address bar")) return "notice " + box.textContent;
			return document.getElementById("media-retry").hidden ? "no Retry" : "";
		})()`)
	}
	// The test pattern goes out meanwhile: Bob sees Alice's video.
	bob.waitFor(t, deadline, "Alice's test pattern", `(() => {
		const v = document.querySelector("#tiles .tile.remote video");
		return v && v.videoWidth > 0 && window.switchboard.mediaMode === "synthetic" ? "" : "no video from Alice";
	})()`)
	b.screenshots(t, alice)
	pcs, err := eval[int](bob, `window.switchboard.peerConnections`)
	if err != nil {
		t.Fatal(err)
	}

	setMedia(cdpbrowser.PermissionSettingGranted)
	click(t, alice, "media-retry")
	alice.waitFor(t, deadline, "the camera after Retry", `(() => {
		const s = window.switchboard;
		if (s.mediaMode !== "camera") return "mode " + s.mediaMode;
		return document.getElementById("media-notice").hidden ? "" : "notice still shown";
	})()`)
	// Alice's connection now sends the camera: the same RTCPeerConnection,
	// whose video sender carries a capture device's track.
	alice.waitFor(t, deadline, "the camera sent on the same connection", `(() => {
		const pcs = Object.values(window.switchboard.peerConnectionObjects());
		if (pcs.length !== 1 || window.switchboard.peerConnections !== 1) return "connections: " + window.switchboard.peerConnections;
		const track = pcs[0].getSenders().map((s) => s.track).find((t) => t && t.kind === "video");
		return track && track.getSettings().deviceId ? "" : "sending " + (track ? track.label || "a canvas" : "nothing");
	})()`)
	bob.waitFor(t, deadline, "Alice's video still arriving on the same connection", fmt.Sprintf(`(() => {
		if (window.switchboard.peerConnections !== %d) return "a new connection";
		const v = document.querySelector("#tiles .tile.remote video");
		const frames = v.getVideoPlaybackQuality().totalVideoFrames;
		if (window.framesSeen === undefined || frames <= window.framesSeen) { window.framesSeen = frames; return "frames " + frames; }
		return "";
	})()`, pcs))
}

// click clicks the element with id as a user would.
func click(t *testing.T, tb *tab, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, slower(evalTimeout))
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID(id), chromedp.NodeVisible)); err != nil {
		t.Fatalf("%s: click #%s: %v", tb.name, id, err)
	}
}

// TestBrowserDiagnose: what a tile says for each way a connection fails,
// from health.js in the browser, on connection states as the browser
// reports them.
func TestBrowserDiagnose(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	app := startApp(t, nil)
	b := newBrowser(t, chromium)
	tb := b.openTab(t, "page", app.httpURL+"/")
	got, err := evalAsync[string](tb, `import("./health.js").then((m) => {
		const peer = (o) => ({
			pc: {connectionState: o.c || "connecting", iceConnectionState: o.i || "checking", iceGatheringState: o.g || "gathering"},
			closed: false, gathered: new Set(o.gathered || []), iceErrors: o.errors || [], answered: o.answered !== false, startedAt: Date.now() - 16000,
			relays: o.relays || [], remoteGathered: new Set(o.remote || []),
		});
		const relays = [{address: "127.0.0.2", port: 50000, url: "turn:127.0.0.1:3478?transport=udp"}];
		const turn = [{urls: ["stun:x:3478"]}, {urls: ["turn:x:3478?transport=udp"], username: "u", credential: "c"}];
		const d = (p, o) => { const r = m.diagnose(p, {name: "Bob", iceServers: turn, ...o}); return r ? r.title : "none"; };
		return JSON.stringify([
			d(null, {}),
			d(peer({answered: false, gathered: ["host"]}), {}),
			d(peer({c: "failed", i: "failed", gathered: ["host", "relay"]}), {}),
			d(peer({gathered: ["host"]}), {relayOnly: true}),
			d(peer({gathered: ["host"], errors: [{url: "turn:y:3478?transport=tcp", code: 701, text: "unreachable"}]}), {relayOnly: true}),
			d(peer({c: "failed", i: "failed", gathered: ["host"]}), {}),
			d(peer({}), {relayOnly: true, iceServers: []}),
			d(peer({c: "connected"}), {}),
			d(peer({gathered: ["host", "relay"]}), {}),
			d(peer({gathered: ["relay"], relays, remote: ["relay"]}), {relayOnly: true}),
			d(peer({c: "failed", i: "failed", gathered: ["host", "relay"], relays, remote: ["host"]}), {}),
		]);
	})`)
	if err != nil {
		t.Fatal(err)
	}
	want := `["No answer from Bob","No answer from Bob","ICE failed: no network path between you",` +
		`"TURN unreachable: turn:x:3478?transport=udp","TURN unreachable: turn:y:3478?transport=tcp",` +
		`"TURN unreachable: turn:x:3478?transport=udp","No TURN server to relay through","none","Still connecting",` +
		`"No path through the TURN relay","ICE failed: no network path between you"]`
	if got != want {
		t.Errorf("diagnoses:\n got %s\nwant %s", got, want)
	}
}
