package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestBrowserSessionLostRebuild: an outage longer than the resume grace
// ends Alice's session; her page starts a new one and both sides set the
// call up again. The new call must then stay up: issue 7 saw media fail
// about 18 s after such a rebuild, so each page watches its connections
// for 20 s.
func TestBrowserSessionLostRebuild(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	app := startApp(t, func(c *config) { c.ResumeGrace = 2 * time.Second })
	b := newBrowser(t, chromium)
	deadline := time.Now().Add(120 * time.Second)
	room := fmt.Sprintf("rebuild-%d", time.Now().UnixNano())
	proxy := startDropProxy(t, strings.TrimPrefix(app.httpURL, "http://"))
	alice := b.openCall(t, "Alice", callPageURL(proxy.url, room, "Alice", "ws"))
	bob := b.openCall(t, "Bob", callPageURL(app.httpURL, room, "Bob", "ws"))
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	waitForCall(t, deadline, alice, bob)
	proxy.down.Store(true)
	proxy.dropAll()
	bob.waitFor(t, deadline, "Alice's old session gone", `Object.keys(window.switchboard.peers).length === 0 ? "" : "still there"`)
	proxy.down.Store(false)
	click(t, alice, "reconnect-now")
	waitForCall(t, deadline, alice, bob)
	for _, tb := range []*tab{alice, bob} {
		if _, err := eval[bool](tb, `(() => {
			window.watchStart = performance.now(); window.drops = [];
			setInterval(() => {
				for (const [id, p] of Object.entries(window.switchboard.peers))
					if (p.connectionState !== "connected" && window.drops.length < 20) window.drops.push(id + " " + p.connectionState);
			}, 250);
			return true; })()`); err != nil {
			t.Fatal(err)
		}
	}
	for _, tb := range []*tab{alice, bob} {
		tb.waitFor(t, deadline, "20 s of the rebuilt call", `performance.now() - window.watchStart > 20000 ? "" : "watching"`)
		if drops, err := eval[[]string](tb, `window.drops`); err != nil || len(drops) > 0 {
			t.Errorf("%s: the rebuilt call dropped: %v (%v)", tb.name, drops, err)
		}
	}
}
