package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestSessionCapKeepsFileDescriptors: under a small file descriptor limit
// the default -max-sessions refuses new sessions (503 server_full) while
// there are still descriptors for /healthz and /metrics. The server runs
// in a child process started under `ulimit -n 128`.
func TestSessionCapKeepsFileDescriptors(t *testing.T) {
	parallel(t)
	if os.Getenv("SB_FDCAP_CHILD") != "" {
		fdCapChild()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `ulimit -n 128 && exec "$0" -test.run='^TestSessionCapKeepsFileDescriptors$'`, os.Args[0])
	cmd.Env = append(os.Environ(), "SB_FDCAP_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	addr := ""
	sc := bufio.NewScanner(out)
	for addr == "" && sc.Scan() {
		if m := regexp.MustCompile(`^listening (\S+)$`).FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatal("child did not start")
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()

	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	full := false
	for i := 0; i < 200 && !full; i++ { // 128 descriptors: the cap comes well before
		ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/v1/ws", nil)
		if err != nil {
			if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("session %d: %v (%v): refused otherwise than with 503 server_full", i, err, resp)
			}
			full = true
			break
		}
		conns = append(conns, ws)
	}
	if !full {
		t.Fatal("no cap under a 128-descriptor limit")
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("%s at the cap: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s at the cap: %d", path, resp.StatusCode)
		}
	}
	t.Logf("capped at %d sessions under a 128-descriptor limit", len(conns))
}

// fdCapChild serves until its stdin closes.
func fdCapChild() {
	c, err := parseConfig([]string{"-http", "127.0.0.1:0", "-turn", "", "-public-ip", "127.0.0.1"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		panic(err)
	}
	ls, err := listen(context.Background(), c, newLogger(c, io.Discard))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	os.Stdout.WriteString("listening " + ls.http.Addr().String() + "\n")
	_ = run(ctx, c, ls, newLogger(c, io.Discard), nil)
}
