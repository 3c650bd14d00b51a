package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Accessibility and the call's own controls: axe-core (vendored in
// testdata/axe, MPL-2.0, never served) finds nothing serious on the lobby
// and the call page; M and V switch the microphone and camera, with icons
// crossed out and the other side told; the stats overlay; screen sharing.

// axeViolations runs axe-core in the page and returns its serious and
// critical findings, one line each.
func axeViolations(t *testing.T, tb *tab) []string {
	t.Helper()
	src, err := os.ReadFile("testdata/axe/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	// DevTools evaluation is not subject to the page's CSP.
	if _, err := eval[bool](tb, string(src)+"\n;true"); err != nil {
		t.Fatalf("%s: load axe-core: %v", tb.name, err)
	}
	out, err := evalAsync[string](tb, `axe.run(document, {resultTypes: ["violations"]}).then((r) => JSON.stringify(
		r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) =>
			v.impact + " " + v.id + ": " + v.nodes.slice(0, 3).map((n) => n.target.join(" ") + " (" + n.failureSummary.replace(/\s+/g, " ") + ")").join("; "))))`)
	if err != nil {
		t.Fatalf("%s: axe.run: %v", tb.name, err)
	}
	var found []string
	if err := json.Unmarshal([]byte(out), &found); err != nil {
		t.Fatal(err)
	}
	return found
}

func TestBrowserAccessibility(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	app := startApp(t, nil)
	b := newBrowser(t, chromium)
	deadline := time.Now().Add(90 * time.Second)
	room := fmt.Sprintf("a11y-%d", time.Now().UnixNano())

	lobby := b.openTab(t, "Lobby", app.httpURL+"/")
	lobby.waitFor(t, deadline, "the preview", `document.getElementById("preview").videoWidth > 0 ? "" : "no preview"`)
	for _, v := range axeViolations(t, lobby) {
		t.Errorf("lobby: %s", v)
	}

	alice := b.openCall(t, "Alice", callPageURL(app.httpURL, room, "Alice", "ws"))
	bob := b.openCall(t, "Bob", callPageURL(app.httpURL, room, "Bob", "ws"))
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	waitForCall(t, deadline, alice, bob)
	for _, v := range axeViolations(t, alice) {
		t.Errorf("call page: %s", v)
	}

	// M and V, with the focus on the page (not in a text field).
	key := func(tb *tab, k string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tb.ctx, slower(evalTimeout))
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Focus(chromedp.ID("leave-button")), chromedp.KeyEvent(k)); err != nil {
			t.Fatal(err)
		}
	}
	key(alice, "m")
	key(alice, "v")
	alice.waitFor(t, deadline, "microphone and camera off, icons crossed out", `(() => {
		const out = [];
		for (const [id, label, tip] of [["toggle-mic", "Unmute", "(M)"], ["toggle-cam", "Start video", "(V)"]]) {
			const b = document.getElementById(id);
			const off = getComputedStyle(b.querySelector(".icon-off")).display !== "none";
			if (b.dataset.off !== "true" || !off || b.querySelector(".label").textContent !== label || !b.title.includes(tip)) out.push(id + " " + b.dataset.off + " " + off + " " + b.title);
		}
		const tracks = document.querySelector("#tiles .tile.local video").srcObject.getTracks();
		if (tracks.some((t) => t.enabled)) out.push("a track still enabled");
		return out.join(", ");
	})()`)
	bob.waitFor(t, deadline, "Alice shown muted with her video off", `(() => {
		const flags = document.querySelector("#tiles .tile.remote .tile-flags").textContent;
		return flags.includes("Muted") && flags.includes("Video off") ? "" : "flags " + flags;
	})()`)
	// A key typed into the chat is text, not a shortcut.
	if err := chromedp.Do(alice.ctx, chromedp.Click(chromedp.ID("chat-input")), chromedp.SendKeys(chromedp.ID("chat-input"), "m"+kb.Escape)); err != nil {
		t.Fatal(err)
	}
	if off, err := eval[string](alice, `document.getElementById("toggle-mic").dataset.off`); err != nil || off != "true" {
		t.Errorf("typing m in the chat switched the microphone (%v)", err)
	}
	key(alice, "m")
	key(alice, "v")
	bob.waitFor(t, deadline, "Alice back on", `document.querySelector("#tiles .tile.remote .tile-flags").textContent === "" ? "" : "flags shown"`)

	// The stats overlay of Bob's tile on Alice's page.
	if _, err := eval[bool](alice, `document.querySelector("#tiles .tile.remote .tile-stats-toggle").click() || true`); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, deadline, "the stats overlay", `(() => {
		const box = document.querySelector("#tiles .tile.remote .tile-stats");
		const text = box.hidden ? "" : box.textContent;
		return /Pathrelay → relay/.test(text) && /RTT\d+ ms/.test(text) && /In\d+ kbit\/s/.test(text) && /Lost\d+ of \d+ packets/.test(text) ? "" : "overlay: " + text;
	})()`)
	b.screenshots(t, alice)

	// Screen share: Alice's connection sends the (fake) screen, then her
	// camera again.
	click(t, alice, "toggle-share")
	alice.waitFor(t, deadline, "the screen sent", `(() => {
		const pc = Object.values(window.switchboard.peerConnectionObjects())[0];
		const track = pc.getSenders().map((s) => s.track).find((t) => t && t.kind === "video");
		if (!window.switchboard.screenSharing) return "not sharing";
		return track && track.getSettings().displaySurface ? "" : "sending " + (track && track.label);
	})()`)
	bob.waitFor(t, deadline, "frames of the share", `(() => {
		const v = document.querySelector("#tiles .tile.remote video");
		const n = v.getVideoPlaybackQuality().totalVideoFrames;
		if (window.shareFrames === undefined || n <= window.shareFrames) { window.shareFrames = n; return "frames " + n; }
		return "";
	})()`)
	click(t, alice, "toggle-share")
	alice.waitFor(t, deadline, "the camera back", `(() => {
		const pc = Object.values(window.switchboard.peerConnectionObjects())[0];
		const track = pc.getSenders().map((s) => s.track).find((t) => t && t.kind === "video");
		return !window.switchboard.screenSharing && track && track.readyState === "live" && !track.getSettings().displaySurface ? "" : "still sharing";
	})()`)
	for _, tb := range b.tabs {
		for _, p := range tb.problemLines() {
			if !strings.Contains(p, "axe") {
				t.Errorf("%s: %s", tb.name, p)
			}
		}
	}
}
