package main

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// TestBrowserPrejoin: the lobby shows the camera before joining, a moving
// microphone level and both device lists; picking the other camera
// switches the preview; Copy link puts the room's link on the clipboard;
// a second tab does not start with the name the first tab is in a call
// with; joining uses the previewed camera.
func TestBrowserPrejoin(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	app := startApp(t, nil)
	// Two fake cameras (and microphones) to pick from.
	b := newBrowser(t, chromium, chromedp.Flag("use-fake-device-for-media-stream", "device-count=2"))
	deadline := time.Now().Add(60 * time.Second)
	for _, p := range []string{"clipboard-read", "clipboard-write"} {
		err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: p}, Setting: cdpbrowser.PermissionSettingGranted, Origin: app.httpURL,
			})
			return err
		}))
		if err != nil {
			t.Fatalf("grant %s: %v", p, err)
		}
	}
	room := fmt.Sprintf("prejoin-%d", time.Now().UnixNano())
	ada := b.openTab(t, "Ada", app.httpURL+"/?"+url.Values{"room": {room}}.Encode())
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	ada.waitFor(t, deadline, "the camera preview, the level meter and two cameras to pick from", `(() => {
		const v = document.getElementById("preview");
		if (!(v.videoWidth > 0)) return "no preview frames";
		if (!(window.switchboard.micPeak > 0.05)) return "mic level " + window.switchboard.micPeak;
		const cams = document.getElementById("camera-select"), mics = document.getElementById("mic-select");
		if (cams.disabled || cams.options.length < 2) return cams.options.length + " camera(s)";
		if (mics.disabled || mics.options.length < 1) return "no microphones";
		return document.getElementById("mic-meter").value >= 0 ? "" : "no meter";
	})()`)
	b.screenshots(t, ada)

	// Pick the other camera: the preview follows.
	other, err := eval[string](ada, `(() => { const s = document.getElementById("camera-select");
		const o = [...s.options].find((o) => !o.selected); s.value = o.value; s.dispatchEvent(new Event("change")); return o.value; })()`)
	if err != nil {
		t.Fatal(err)
	}
	ada.waitFor(t, deadline, "the preview from the picked camera", `(() => {
		const s = document.getElementById("preview").srcObject;
		const id = s && s.getVideoTracks()[0] && s.getVideoTracks()[0].getSettings().deviceId;
		return id === `+jsString(other)+` ? "" : "previewing " + id;
	})()`)

	// Copy link copies the room's link.
	click(t, ada, "lobby-copy-link")
	ada.waitFor(t, deadline, "the link on the clipboard", `document.getElementById("lobby-copy-link").textContent === "Copied" ? "" : "not copied"`)
	copied, err := evalAsync[string](ada, `navigator.clipboard.readText()`)
	if err != nil {
		t.Fatal(err)
	}
	if want := app.httpURL + "/?room=" + room; copied != want {
		t.Errorf("copied %q, want %q", copied, want)
	}

	// Ada joins with her name typed in; the camera she previewed goes out.
	if err := chromedp.Do(ada.ctx, chromedp.SendKeys(chromedp.ID("name-input"), "Ada"), chromedp.Click(chromedp.ID("join-button"))); err != nil {
		t.Fatal(err)
	}
	ada.waitFor(t, deadline, "Ada in the call with the picked camera", `(() => {
		const v = document.querySelector("#tiles .tile.local video");
		const id = v && v.srcObject && v.srcObject.getVideoTracks()[0].getSettings().deviceId;
		if (!window.switchboard.sessionId) return "not joined";
		return id === `+jsString(other)+` ? "" : "sending camera " + id;
	})()`)

	// A second tab remembers the name, but Ada's tab is in a call with it.
	second := b.openTab(t, "Second", app.httpURL+"/?"+url.Values{"room": {room}}.Encode())
	second.waitFor(t, deadline, "an empty name with the reason", `(() => {
		const help = document.getElementById("name-help");
		const name = document.getElementById("name-input").value;
		if (name !== "") return "name " + name;
		return !help.hidden && help.textContent.includes("another tab") ? "" : "no hint";
	})()`)
}
