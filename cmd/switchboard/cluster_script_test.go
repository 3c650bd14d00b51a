package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// clusterReady bounds cluster.sh's start with its binary built: Redis
// (itself bounded at 10 s), a relay, two nodes and HAProxy.
const clusterReady = 90 * time.Second

// TestClusterScript runs scripts/cluster.sh (redis-server, a `switchboard
// turn` relay, two nodes, HAProxy) on free loopback ports, makes a
// relay-only call through HAProxy, and checks that HAProxy hashes on the
// room= of a channel's URL: both peers of a room reach one node, and the
// rooms spread over both. Then two Chromium pages opened through HAProxy
// move to the room's owner node (joined.owner) while they negotiate, and
// their call connects: the move lost nothing.
func TestClusterScript(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"redis-server", "haproxy", "curl"} {
		if _, err := exec.LookPath(cmd); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed", cmd)
			}
			t.Skipf("%s is not installed", cmd)
		}
	}
	// The binary comes built: the readiness wait below is the cluster's,
	// not a cold build's (issue 20: a build inside it took 240 s).
	env := append(os.Environ(), "SB_BIN="+switchboardBinary(t))
	ports := map[string]int{}
	for _, name := range []string{"SB_PORT", "SB_NODE1_PORT", "SB_NODE2_PORT", "SB_REDIS_PORT", "SB_TURN_PORT"} {
		ports[name] = freeTCPPort(t)
		env = append(env, name+"="+strconv.Itoa(ports[name]))
	}
	cmd := exec.Command("bash", "../../scripts/cluster.sh")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			t.Error("cluster.sh did not stop on SIGTERM")
		}
	})
	urls := make(chan string, 1)
	go func() {
		ready := regexp.MustCompile(`open (http://\S+)/`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	var base string
	select {
	case base = <-urls:
	case err := <-exited:
		exited <- err
		t.Fatalf("cluster.sh exited: %v", err)
	case <-time.After(clusterReady):
		t.Fatalf("cluster.sh did not print its URL within %s", clusterReady)
	}
	// Without room= HAProxy hashes on the client's address: both peers
	// reach one node, which relays through the pool's `switchboard turn`.
	ws := "ws" + base[len("http"):] + "/v1/ws"
	relayCall(t, dialSignaling(t, ws), dialSignaling(t, ws), "through-haproxy", nil)

	nodes := []string{
		fmt.Sprintf("http://127.0.0.1:%d", ports["SB_NODE1_PORT"]),
		fmt.Sprintf("http://127.0.0.1:%d", ports["SB_NODE2_PORT"]),
	}
	deadline := time.Now().Add(30 * time.Second)
	before := wsChannels(t, nodes)
	used := make([]int, len(nodes)) // rooms per node
	for i := range 8 {
		room := fmt.Sprintf("room-%d", i)
		for range 2 {
			conn, _, err := websocket.DefaultDialer.Dial(ws+"?room="+room, nil)
			if err != nil {
				t.Fatalf("%s: %v", room, err)
			}
			t.Cleanup(func() { conn.Close() })
			if err := conn.SetReadDeadline(deadline); err != nil {
				t.Fatal(err)
			}
			var welcome struct{ Type string }
			if err := conn.ReadJSON(&welcome); err != nil || welcome.Type != "welcome" {
				t.Fatalf("%s: %v %+v", room, err, welcome)
			}
		}
		// The peers of one room: both channels on one node.
		var now []int
		eventually(t, deadline, room+"'s two channels counted", func() string { // gauges of other processes: no event
			if now = wsChannels(t, nodes); now[0]+now[1] != before[0]+before[1]+2 {
				return fmt.Sprintf("WebSocket channels per node %v, were %v", now, before)
			}
			return ""
		})
		for n := range nodes {
			if d := now[n] - before[n]; d == 2 {
				used[n]++
			} else if d != 0 {
				t.Fatalf("%s: its peers on different nodes (channels per node %v, were %v)", room, now, before)
			}
		}
		before = now
	}
	if used[0] == 0 || used[1] == 0 {
		t.Errorf("rooms per node %v: HAProxy does not hash on room=", used)
	}

	b := newBrowser(t, findChromium(t))
	alice := b.openCall(t, "alice", callPageURL(base, "moving-room", "alice", ""))
	bob := b.openCall(t, "bob", callPageURL(base, "moving-room", "bob", ""))
	callDeadline := time.Now().Add(e2eTimeout)
	waitForCall(t, callDeadline, alice, bob)
	for _, tb := range []*tab{alice, bob} {
		tb.waitFor(t, callDeadline, "moved to the room's node", `(() => {
			const moved = `+jsString(nodes[0])+` === window.switchboard.signalingBase || `+jsString(nodes[1])+` === window.switchboard.signalingBase;
			return moved ? "" : "signaling on " + window.switchboard.signalingBase;
		})()`)
	}
	for i, c := range callCounters(t, alice, bob) {
		if c.Sessions != 1 || c.Resumes < 1 || c.PeerConnections != 1 {
			t.Errorf("page %d: %+v; want one session, resumed on the owner, one peer connection", i, c)
		}
	}
	alice.chat(t, "after the move")
	bob.waitForChat(t, callDeadline, "alice", "after the move")
}

// wsChannels reads each node's open WebSocket channels from its /metrics.
func wsChannels(t *testing.T, nodes []string) []int {
	t.Helper()
	gauge := regexp.MustCompile(`(?m)^switchboard_signaling_connections\{transport="ws"\} (\d+)$`)
	counts := make([]int, len(nodes))
	for i, n := range nodes {
		resp, err := http.Get(n + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if m := gauge.FindSubmatch(body); m != nil {
			counts[i], _ = strconv.Atoi(string(m[1]))
		}
	}
	return counts
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
