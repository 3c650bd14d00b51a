package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestBrowserCrashKeepsCall: two Chromium tabs in a call when their
// single node is SIGKILLed and started again: the sessions are gone (a
// crash keeps nothing without -redis), so each tab's resume fails and it
// joins again as a new session. The media flows peer to peer meanwhile
// (through a `switchboard turn` of its own), and each page keeps its
// RTCPeerConnection: its peer comes back with the same clientTag and the
// call is rebound to the new session (room.js, peer-away/peer-back). No
// "left" in the chat, the remote video keeps decoding, and the call can
// still be renegotiated on the new sessions.
func TestBrowserCrashKeepsCall(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	first, stateFile, nodeArgs := startRelayedNode(t)
	addr := httpAddrInLog.FindStringSubmatch(first.waitLogged(t))[1]
	base := "http://" + addr

	b := newBrowser(t, chromium)
	deadline := time.Now().Add(browserBudget)
	room := fmt.Sprintf("crash-%d", time.Now().UnixNano())
	alice := b.openCall(t, "Alice", callPageURL(base, room, "Alice", "ws"))
	bob := b.openCall(t, "Bob", callPageURL(base, room, "Bob", "ws"))
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	waitForCall(t, deadline, alice, bob)
	before := callCounters(t, alice, bob)
	for _, tb := range []*tab{alice, bob} {
		if _, err := eval[bool](tb, `(() => {
			window.crashWatch = [];
			setInterval(() => {
				if (window.crashWatch.length >= 20) return;
				for (const c of window.switchboard.chat) if (/ left$/.test(c.text)) window.crashWatch.push("chat: " + c.text);
				const pcs = Object.values(window.switchboard.peerConnectionObjects());
				if (pcs.length !== 1 || !pcs[0] || pcs[0].connectionState === "closed") window.crashWatch.push(pcs.length + " connections");
			}, 50);
			return true; })()`); err != nil {
			t.Fatal(err)
		}
	}
	pcBefore := make([]string, 2)
	for i, tb := range []*tab{alice, bob} {
		// Mark the RTCPeerConnection object itself: the same one must be there after.
		id, err := eval[string](tb, `(() => { const pc = Object.values(window.switchboard.peerConnectionObjects())[0];
			pc.crashMark = pc.crashMark || String(Math.random()); return pc.crashMark; })()`)
		if err != nil {
			t.Fatal(err)
		}
		pcBefore[i] = id
	}
	framesBefore := []int{remoteFrames(t, alice), remoteFrames(t, bob)}

	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.exited
	startNode(t, addr, stateFile, "switchboard started", nodeArgs...)
	// Each tab is on a new session, in the room, and calls the other's new
	// session on the connection it had.
	tabs := []*tab{alice, bob}
	for i, tb := range tabs {
		tb.waitFor(t, deadline, "a new session", fmt.Sprintf(`(() => {
			const s = window.switchboard;
			return s.sessions > %d && s.connected ? "" : "sessions " + s.sessions + ", connected " + s.connected;
		})()`, before[i].Sessions))
	}
	for i, tb := range tabs {
		other, err := eval[string](tabs[1-i], `window.switchboard.sessionId`)
		if err != nil {
			t.Fatal(err)
		}
		tb.waitFor(t, deadline, "the peer's new session", fmt.Sprintf(`(() => {
			const ids = Object.keys(window.switchboard.peerConnectionObjects());
			return ids.length === 1 && ids[0] === %q ? "" : "peers " + ids.join(","); })()`, other))
	}
	settle := time.Now().Add(2 * time.Second)
	for _, tb := range tabs {
		tb.waitFor(t, deadline, "two seconds after the rebind", fmt.Sprintf(`Date.now() >= %d ? "" : "waiting"`, settle.UnixMilli()))
	}
	for i, tb := range tabs {
		mark, err := eval[string](tb, `Object.values(window.switchboard.peerConnectionObjects())[0].crashMark || "a new RTCPeerConnection"`)
		if err != nil || mark != pcBefore[i] {
			t.Errorf("%s: RTCPeerConnection %q, before the crash %q: want the same (%v)", tb.name, mark, pcBefore[i], err)
		}
		if watch, err := eval[[]string](tb, `window.crashWatch`); err != nil || len(watch) > 0 {
			t.Errorf("%s: the call faltered across the crash: %v (%v)", tb.name, watch, err)
		}
		if n := remoteFrames(t, tb); n <= framesBefore[i] {
			t.Errorf("%s: remote video frames %d, %d before the crash: not decoding", tb.name, n, framesBefore[i])
		}
	}
}

// startRelayedNode starts a node on a loopback port and a state file of
// its own, whose calls are relayed by a `switchboard turn` of their own
// (-turn-urls): a restart or a crash of the node leaves the relay's
// allocations alone. It returns the node, the state file and the flags to
// start the next node with.
func startRelayedNode(t *testing.T) (node *nodeProcess, stateFile string, args []string) {
	relay, _ := startTurnCommand(t, "allow-loopback-peers\n")
	stateFile = filepath.Join(t.TempDir(), "state")
	args = []string{"-turn-urls", relay.UDPAddr().String(), "-turn-secret", turnTestSecret}
	return startNode(t, "127.0.0.1:0", stateFile, "switchboard started", args...), stateFile, args
}

// remoteFrames is how many frames the page's remote video has decoded
// (-1 without one).
func remoteFrames(t *testing.T, tb *tab) int {
	t.Helper()
	n, err := eval[int](tb, `(() => { const v = document.querySelector("#tiles .tile.remote video");
		return v ? v.getVideoPlaybackQuality().totalVideoFrames : -1; })()`)
	if err != nil {
		t.Fatalf("%s: %v", tb.name, err)
	}
	return n
}
