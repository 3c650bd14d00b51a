package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestClusterScript runs scripts/cluster.sh (redis-server, a `switchboard
// turn` relay, two nodes, HAProxy) on free loopback ports and makes a
// relay-only call through HAProxy.
func TestClusterScript(t *testing.T) {
	for _, cmd := range []string{"redis-server", "haproxy", "curl"} {
		if _, err := exec.LookPath(cmd); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed", cmd)
			}
			t.Skipf("%s is not installed", cmd)
		}
	}
	env := os.Environ()
	for _, name := range []string{"SB_PORT", "SB_NODE1_PORT", "SB_NODE2_PORT", "SB_REDIS_PORT", "SB_TURN_PORT"} {
		env = append(env, name+"="+strconv.Itoa(freeTCPPort(t)))
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
	case <-time.After(4 * time.Minute): // it builds the binary first
		t.Fatal("cluster.sh did not print its URL")
	}
	// HAProxy hashes on the client's address: both peers reach one node,
	// which relays through the pool's `switchboard turn`.
	ws := "ws" + base[len("http"):] + "/v1/ws"
	relayCall(t, dialSignaling(t, ws), dialSignaling(t, ws), "through-haproxy", nil)
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
