// Package redistest runs a real redis-server for tests, or a Sentinel
// watching one: on a free loopback port, persistence off, stopped when the
// test ends. Without redis-server installed a test skips, and fails under
// CI=true.
package redistest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Server is a real redis-server on a loopback port, persistence off,
// that a test may stop and start again on the same port.
type Server struct {
	t      testing.TB
	port   int
	args   func(port int) []string // redis-server's command line
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // cmd's Wait
	out    lockedBuffer
}

// Start runs redis-server until the test ends. Without one it skips,
// and fails under CI=true: CI installs it.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, func(port int) []string {
		// DEBUG SLEEP from loopback: tests make Redis slow with it.
		return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--enable-debug-command", "local"}
	})
}

// StartSentinel runs redis-server as a Sentinel that monitors master
// under name, until the test ends. Its quorum is 1 and it
// waits a minute before calling a master down: tests reach the master
// through it, they do not fail over. Without redis-server it skips, and
// fails under CI=true.
func StartSentinel(t testing.TB, master *Server, name string) *Server {
	t.Helper()
	dir := t.TempDir() // a Sentinel rewrites its config file
	conf := filepath.Join(dir, "sentinel.conf")
	return start(t, func(port int) []string {
		cfg := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 60000\n",
			port, dir, name, master.port, name)
		if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{conf, "--sentinel"}
	})
}

func start(t testing.TB, args func(port int) []string) *Server {
	t.Helper()
	needTool(t, "redis-server", "redis-server")
	rs := &Server{t: t, args: args}
	t.Cleanup(rs.Stop)
	for attempt := 0; ; attempt++ {
		rs.port = freePort(t)
		if err := rs.Start(); err == nil {
			return rs
		} else if attempt == 2 {
			t.Fatalf("redis-server did not start: %v\n%s", err, rs.output())
		}
	}
}

// needTool skips without tool, and fails under CI=true: CI installs it.
func needTool(t testing.TB, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (apt-get install %s)", tool, pkg)
		}
		t.Skipf("%s is not installed", tool)
	}
}

// freePort names a TCP port free on 127.0.0.1 a moment ago: redis-server
// binds its own socket, so it cannot be handed a listener.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (rs *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(rs.port) }

// Start runs redis-server (again) and waits until it answers PING.
func (rs *Server) Start() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	cmd := exec.Command("redis-server", rs.args(rs.port)...)
	cmd.Stdout, cmd.Stderr = &rs.out, &rs.out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for !pingRedis(rs.Addr()) {
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server exited: %v", err)
		case <-time.After(20 * time.Millisecond): // redis-server has no readiness signal: poll, bounded
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return context.DeadlineExceeded
		}
	}
	rs.cmd, rs.exited = cmd, exited
	return nil
}

// pingRedis reports whether a Redis at addr answers PING.
func pingRedis(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, _ := io.ReadFull(conn, buf)
	return string(buf[:n]) == "+PONG\r\n"
}

func (rs *Server) output() string { return rs.out.String() }

// Stop kills redis-server, as a crash would, and waits for it to exit.
func (rs *Server) Stop() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.cmd == nil {
		return
	}
	_ = rs.cmd.Process.Kill()
	<-rs.exited
	rs.cmd = nil
}

// Client returns a go-redis client of rs, closed when the test ends.
func (rs *Server) Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true, // as ParseURL's
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	t.Cleanup(func() { c.Close() })
	return c
}

// lockedBuffer collects redis-server's output from exec's goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Sleep keeps Redis busy for d (DEBUG SLEEP) and returns once it is: a
// PING with a short deadline goes unanswered. The channel gets the DEBUG
// SLEEP's result when Redis is back; commands sent meanwhile run then.
func (s *Server) Sleep(t testing.TB, d time.Duration) <-chan error {
	t.Helper()
	slept := make(chan error, 1)
	go func() {
		slept <- s.Client(t).Do(context.Background(), "DEBUG", "SLEEP", strconv.FormatFloat(d.Seconds(), 'f', -1, 64)).Err()
	}()
	c := s.Client(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err != nil {
			return slept
		}
		select {
		case err := <-slept:
			t.Fatalf("DEBUG SLEEP ended before Redis was seen busy: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Redis never got busy")
		}
	}
}
