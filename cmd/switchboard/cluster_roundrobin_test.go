package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
)

// TestRoundRobinHAProxy: behind HAProxy in plain round robin (no hashing,
// no stickiness) two nodes sharing Redis carry a relay-only pion call
// over each channel: SSE and polling clients, whose every request may
// land on either node, get every event exactly once and in order
// (sigClient fails on a gap or a refused request), and no node answers
// any request `replaced`.
func TestRoundRobinHAProxy(t *testing.T) {
	parallel(t)
	for _, cmd := range []string{"redis-server", "haproxy"} {
		if _, err := exec.LookPath(cmd); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed", cmd)
			}
			t.Skipf("%s is not installed", cmd)
		}
	}
	rs := redistest.Start(t)
	node := func(c *config) { c.Redis, c.AllowPrivatePeers = "redis://"+rs.Addr(), true }
	a, b := startApp(t, node), startApp(t, node)
	front := startHAProxy(t, a, b)
	for _, transport := range []string{"sse", "poll"} {
		t.Run(transport, func(t *testing.T) {
			relayCall(t, dialOn(t, front, transport), dialOn(t, front, transport), "rr-"+transport, nil)
		})
	}
	for _, app := range []*testApp{a, b} {
		if n := errorCount(t, app, "replaced"); n != "0" {
			t.Errorf("%s answered %s requests replaced", app.httpURL, n)
		}
	}
}

// startHAProxy runs scripts/haproxy.cfg in round robin in front of the
// apps and returns its http:// base.
func startHAProxy(t *testing.T, apps ...*testApp) string {
	t.Helper()
	front := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	cmd := exec.Command("haproxy", "-db", "-f", "../../scripts/haproxy.cfg")
	cmd.Env = append(os.Environ(), "SB_ROUNDROBIN=1", "SB_FRONT="+front,
		"SB_NODE1="+strings.TrimPrefix(apps[0].httpURL, "http://"),
		"SB_NODE2="+strings.TrimPrefix(apps[1].httpURL, "http://"))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// A listener in another process has no event to wait on: dial, bounded.
	eventually(t, time.Now().Add(10*time.Second), "haproxy listening on "+front, func() string {
		c, err := net.DialTimeout("tcp", front, time.Second)
		if err != nil {
			return err.Error()
		}
		c.Close()
		return ""
	})
	return "http://" + front
}

// errorCount reads app's count of refusals and channel ends with code
// from /metrics ("0" when none was counted).
func errorCount(t *testing.T, app *testApp, code string) string {
	t.Helper()
	resp, err := http.Get(app.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "switchboard_signaling_errors_total{") && strings.Contains(line, `code="`+code+`"`) {
			return line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	return "0"
}
