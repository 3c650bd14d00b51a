package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
)

// TestRedisFlag: two nodes started with -redis share a room, two pion
// peers on different nodes complete a relay-only call, and /readyz follows
// Redis: a relay while it is down is refused with unavailable and the node
// reports not ready.
func TestRedisFlag(t *testing.T) {
	parallel(t)
	rs := redistest.Start(t)
	url := "redis://" + rs.Addr()
	// Each node's relay must reach the other's on loopback.
	node := func(c *config) { c.Redis, c.AllowPrivatePeers = url, true }
	a, b := startApp(t, node), startApp(t, node)
	for _, app := range []*testApp{a, b} {
		if code, body := readyz(t, app); code != http.StatusOK || !strings.Contains(body, `"ready"`) {
			t.Fatalf("readyz: %d %s", code, body)
		}
	}
	ca, cb := dialSignaling(t, a.wsURL), dialSignaling(t, b.wsURL)
	ca.send(map[string]any{"type": "join", "room": "r"})
	ca.next("joined")
	cb.send(map[string]any{"type": "join", "room": "r"})
	cb.next("joined")
	peer := ca.next("peer-joined")["peer"].(map[string]any)["id"]
	ca.send(map[string]any{"type": "message", "to": peer, "data": "across nodes"})
	if f := cb.next("message"); f["data"] != "across nodes" {
		t.Fatalf("message %v", f)
	}

	// Two pion peers, one on each node, set up a relay-only call.
	relayCall(t, dialSignaling(t, a.wsURL), dialSignaling(t, b.wsURL), "call", nil)

	rs.Stop()
	ca.send(map[string]any{"type": "message", "to": peer, "data": "lost?", "id": 7})
	if f := ca.next("error"); f["code"] != "unavailable" || f["re"] != float64(7) {
		t.Fatalf("relay with redis down: %v", f)
	}
	if code, body := readyz(t, a); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with redis down: %d %s", code, body)
	}
}

func readyz(t *testing.T, app *testApp) (int, string) {
	t.Helper()
	resp, err := http.Get(app.httpURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTURNPoolCall: with -turn-urls naming a `switchboard turn` relay, the
// pool's host is handed out, with credentials from the shared secret, and
// a relay-only call allocates on it.
func TestTURNPoolCall(t *testing.T) {
	parallel(t)
	st, logs := startTurnCommand(t, "allow-loopback-peers\n")
	app := startApp(t, func(c *config) {
		c.TURNURLs, c.TURNSecret = st.UDPAddr().String(), turnTestSecret
	})
	alice, bob := dialSignaling(t, app.wsURL), dialSignaling(t, app.wsURL)
	if servers := fmt.Sprint(alice.welcome["iceServers"]); !strings.Contains(servers, "stun:"+st.UDPAddr().String()) || strings.Contains(servers, "turn:") {
		t.Fatalf("welcome's ICE servers are not the pool host's STUN alone: %s", servers)
	}
	relayCall(t, alice, bob, "pool", nil)
	if servers := fmt.Sprint(alice.joined["iceServers"]); !strings.Contains(servers, "turn:"+st.UDPAddr().String()) {
		t.Fatalf("joined's ICE servers lack the pool's host: %s", servers)
	}
	if n := st.Server.Allocations(); n == 0 {
		t.Fatalf("no allocation on the pool's relay:\n%s", logs)
	}
}
