package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/signaling/client"
	"github.com/switchboard-rtc/switchboard/signaling/client/call"
)

// TestBrowserCallsGoClient: a Chromium tab on the demo page and a Go
// program on signaling/client and its call package meet in one room. The
// Go program, joining second, calls the tab relay-only through the
// bundled TURN server and sends the tab's camera and microphone back
// (call.Loopback): the tab's tile for it plays video, so media went both
// ways. A chat line typed in the tab reaches the program, whose answer
// appears in the tab's chat.
func TestBrowserCallsGoClient(t *testing.T) {
	chromium := findChromium(t)
	app := startApp(t, nil)
	b := newBrowser(t, chromium)
	deadline := time.Now().Add(browserBudget)
	room := fmt.Sprintf("gopher-%d", time.Now().UnixNano())
	tab := b.openCall(t, "Ada", callPageURL(app.httpURL, room, "Ada", ""))
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	tab.waitFor(t, deadline, "the tab in the room", `window.switchboard && window.switchboard.sessionId && window.switchboard.mediaMode === "camera" ? "" : "not in the call yet"`)

	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	c, err := client.Dial(ctx, app.httpURL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := call.Join(ctx, c, room, client.JoinOptions{Name: "Gopher"}, call.Config{
		Configuration: webrtc.Configuration{ICETransportPolicy: webrtc.ICETransportPolicyRelay},
		Setup:         call.Loopback,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	chat := make(chan string, 4)
	go func() {
		for ev := range r.Events() {
			m, ok := ev.(client.Message)
			if !ok {
				continue
			}
			var line struct{ Kind, Text string }
			if json.Unmarshal(m.Data, &line) == nil && line.Kind == "chat" {
				chat <- line.Text
				_ = c.SendMessage(m.From, map[string]string{"kind": "chat", "text": "Gopher heard: " + line.Text})
			}
		}
	}()

	tab.waitFor(t, deadline, "a connected, relayed call with the Go program, playing its video", `(() => {
		const peers = Object.values(window.switchboard.peers);
		if (peers.length !== 1) return peers.length + " peers";
		const p = peers[0];
		if (p.name !== "Gopher") return "peer named " + p.name;
		if (p.connectionState !== "connected") return "connection " + p.connectionState;
		if (p.iceCandidatePairType !== "relay") return "candidate pair " + p.iceCandidatePairType;
		const v = document.querySelector("#tiles .tile.remote video");
		return v && v.videoWidth > 0 && v.currentTime > 0 ? "" : "no remote video frames (relay over " + p.relayProtocol + ", video " + (v ? v.videoWidth + "x" + v.videoHeight + " at " + v.currentTime + " s, readyState " + v.readyState + ", paused " + v.paused : "element missing") + ")";
	})()`)
	b.screenshots(t, tab)

	tab.chat(t, "hello from the tab")
	select {
	case got := <-chat:
		if got != "hello from the tab" {
			t.Fatalf("the Go program got chat %q", got)
		}
	case <-ctx.Done():
		t.Fatal("the Go program got no chat line")
	}
	tab.waitForChat(t, deadline, "Gopher", "Gopher heard: hello from the tab")
}
