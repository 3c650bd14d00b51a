package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/cmd/switchboard/internal/natlab"
)

// runMainEnv makes the test binary run as switchboard itself (TestMain):
// the NAT lab starts it inside the public namespace, where its relay
// sockets must be made.
const runMainEnv = "SWITCHBOARD_TEST_RUN_MAIN"

// labServer is switchboard running on the lab's public segment.
type labServer struct {
	httpURL string // http(s)://198.18.0.1:443
	wsURL   string
	secret  string
	log     *syncBuffer
}

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startLabServer runs this test binary as switchboard in the lab's public
// namespace: HTTPS signaling and TURN over TLS on 198.18.0.1:443 (the one
// port the locked-down networks reach), the bundled relay on :3478 with
// its RFC 5780 alternate on 198.18.0.2, relaying to the lab's addresses
// only because -turn-allowed-peer-ip says so. extra flags go last.
func startLabServer(t *testing.T, l *natlab.Lab, extra ...string) *labServer {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := &labServer{secret: randomSecret(), log: &syncBuffer{}}
	s.httpURL = "https://" + natlab.Pub.String() + ":443"
	s.wsURL = "wss://" + natlab.Pub.String() + ":443/v1/ws"
	args := append([]string{
		"-http", natlab.Pub.String() + ":443",
		"-turn", natlab.Pub.String() + ":3478",
		"-turn-alt-ip", natlab.Alt.String(),
		"-public-ip", natlab.Pub.String(),
		"-turn-secret", s.secret,
		"-turn-allowed-peer-ip", "198.18.0.0/15",
		"-tls-cert", labCertFile, "-tls-key", labKeyFile,
		"-memory-trim=false",
		"-shutdown-timeout", "2s",
	}, extra...)
	cmd := l.Command(l.PubNS(), exe, args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = s.log, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(exited)
	}()
	started := make(chan struct{})
	go func() { // copies the log, and says when the server is up
		sc := bufio.NewScanner(pr)
		once := sync.OnceFunc(func() { close(started) })
		for sc.Scan() {
			fmt.Fprintln(s.log, sc.Text())
			if strings.Contains(sc.Text(), "switchboard started") {
				once()
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case <-started:
	case <-exited:
		t.Fatalf("switchboard exited at start:\n%s", s.log)
	case <-time.After(30 * time.Second):
		t.Fatalf("switchboard did not start within 30 s:\n%s", s.log)
	}
	return s
}

func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// waitCtx is a context ending at the sooner of d and the test's deadline.
func waitCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
