package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/turn"
)

const turnTestSecret = "turn-command-secret-0123"

// startTurnCommand runs `switchboard turn -c FILE args...` in process on
// 127.0.0.1 with ports from :0, and returns the running relay.
func startTurnCommand(t *testing.T, conf string, args ...string) (*turn.Standalone, *lockedBuffer) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "turnserver.conf")
	base := "listening-ip=127.0.0.1\nlistening-port=0\nmin-port=43000\nmax-port=44000\n" +
		"use-auth-secret\nstatic-auth-secret=" + turnTestSecret + "\nrealm=switchboard.test\nshutdown-timeout=1s\n"
	if err := os.WriteFile(file, []byte(base+conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *turn.Standalone, 1)
	done := make(chan error, 1)
	logs := &lockedBuffer{}
	go func() {
		done <- runTurn(ctx, append([]string{"-c", file}, args...), logs, turn.Signals{}, func(st *turn.Standalone) { ready <- st })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("turn command: %v", err)
		}
	})
	select {
	case st := <-ready:
		return st, logs
	case err := <-done:
		done <- err
		t.Fatalf("turn command did not start: %v\n%s", err, logs)
	case <-time.After(10 * time.Second):
		t.Fatal("turn command did not start")
	}
	return nil, nil
}

func TestTurnCommandArgs(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "t.conf")
	if err := os.WriteFile(file, []byte("user-quota=3\ndenied-peer-ip=10.0.0.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := parseTurnArgs([]string{"-c", file, "--user-quota", "9", "--denied-peer-ip=10.0.0.2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.UserQuota != 9 || len(o.DeniedPeerIPs) != 2 {
		t.Fatalf("flags over file: %+v", o)
	}
	for name, args := range map[string][]string{
		"missing file": {"-c", filepath.Join(dir, "nope.conf")},
		"unknown flag": {"--no-such-key"},
		"extra arg":    {"-c", file, "surplus"},
	} {
		if _, err := parseTurnArgs(args, io.Discard); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := parseTurnArgs([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("realm=x\nchannel-lifetime=60\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = parseTurnArgs([]string{"-c", bad}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), bad+":2:") || !strings.Contains(err.Error(), "does not support") {
		t.Errorf("unsupported key: %v", err)
	}
}

// coturnTool finds one of coturn's tools; missing, it skips locally and
// fails in CI, where .ci/run installs coturn.
func coturnTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (Debian package coturn) is not installed", name)
		}
		t.Skipf("%s not installed: apt-get install coturn", name)
	}
	return path
}

// startPeer runs turnutils_peer, coturn's UDP echo peer, on 127.0.0.1 and
// waits until it echoes.
func startPeer(t *testing.T) int {
	t.Helper()
	bin := coturnTool(t, "turnutils_peer")
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close() // turnutils_peer takes a port number, not a socket
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-L", "127.0.0.1", "-p", strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	buf := make([]byte, 64)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		_, _ = c.WriteTo([]byte("ping"), peer)
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := c.ReadFrom(buf); err == nil && string(buf[:n]) == "ping" {
			return port
		}
	}
	t.Fatal("turnutils_peer did not echo")
	return 0
}

var uclientTotals = regexp.MustCompile(`start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)

func uclient(t *testing.T, args ...string) (sent, recv int, out string, err error) {
	t.Helper()
	bin := coturnTool(t, "turnutils_uclient")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	out = string(b)
	if m := uclientTotals.FindStringSubmatch(out); m != nil {
		sent, _ = strconv.Atoi(m[1])
		recv, _ = strconv.Atoi(m[2])
	}
	return sent, recv, out, err
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// TestTurnCommandWithCoturnClients: coturn's own client relays to coturn's
// peer through `switchboard turn -c FILE` over UDP, TCP and TLS, with
// REST credentials from the shared secret, losing nothing.
func TestTurnCommandWithCoturnClients(t *testing.T) {
	parallel(t)
	peer := startPeer(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writeTestCert(t, cert, key)
	st, logs := startTurnCommand(t, fmt.Sprintf("allow-loopback-peers\ntls-listening-port=0\ncert=%s\npkey=%s\n", cert, key))
	for _, tc := range []struct {
		name  string
		addr  net.Addr
		flags []string
	}{
		{"udp", st.UDPAddr(), nil},
		{"tcp", st.TCPAddr(), []string{"-t"}},
		{"tls", st.TLSAddr(), []string{"-t", "-S"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-W", turnTestSecret, "-e", "127.0.0.1", "-r", strconv.Itoa(peer),
				"-n", "20", "-m", "2", "-l", "160", "-z", "5", "-c", "-X", "-p", portOf(tc.addr)}, tc.flags...)
			sent, recv, out, err := uclient(t, append(args, "127.0.0.1")...)
			if err != nil || sent == 0 || recv != sent {
				t.Fatalf("sent %d, received %d, err %v:\n%s\nserver log:\n%s", sent, recv, err, out, logs)
			}
		})
	}
	if !strings.Contains(logs.String(), "transport=tls") || !strings.Contains(logs.String(), "advertised=127.0.0.1") {
		t.Errorf("startup log lacks listeners or relay address:\n%s", logs)
	}
}

func TestTurnCommandRefusesCoturnClients(t *testing.T) {
	parallel(t)
	peer := startPeer(t)
	st, logs := startTurnCommand(t, "allowed-peer-ip=127.0.0.2\n")
	port := portOf(st.UDPAddr())
	expiredUser := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10) + ":x"
	expiredPass := restPasswordForTest(turnTestSecret, expiredUser)
	for name, creds := range map[string][]string{
		"wrong secret":  {"-W", "not-the-secret-at-all"},
		"expired":       {"-u", expiredUser, "-w", expiredPass},
		"loopback peer": {"-W", turnTestSecret}, // the file does not allow 127.0.0.1
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"-e", "127.0.0.1", "-r", strconv.Itoa(peer), "-n", "3", "-m", "1", "-c", "-X", "-p", port}, creds...)
			_, recv, out, err := uclient(t, append(args, "127.0.0.1")...)
			if err == nil && recv > 0 {
				t.Fatalf("relayed %d messages:\n%s\nserver log:\n%s", recv, out, logs)
			}
		})
	}
}

func TestTurnCommandAnswersSTUNClient(t *testing.T) {
	parallel(t)
	bin := coturnTool(t, "turnutils_stunclient")
	st, _ := startTurnCommand(t, "")
	for _, transport := range []string{"udp"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, bin, "-p", portOf(st.UDPAddr()), "127.0.0.1").CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "127.0.0.1:") {
			t.Fatalf("%s: %v\n%s", transport, err, out)
		}
	}
}

// TestTurnCommandNATDiscovery: coturn's turnutils_natdiscovery completes
// RFC 5780 mapping and filtering discovery against 127.0.0.1 and
// 127.0.0.2 (loopback: no NAT, so both endpoint-independent).
func TestTurnCommandNATDiscovery(t *testing.T) {
	parallel(t)
	bin := coturnTool(t, "turnutils_natdiscovery")
	st, logs := startTurnCommand(t, "alt-listening-ip=127.0.0.2\n")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-m", "-f", "-p", portOf(st.UDPAddr()), "127.0.0.1").CombinedOutput()
	for _, want := range []string{"Endpoint Independent Mapping", "Endpoint Independent Filtering", "Other addr: : 127.0.0.2"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("natdiscovery output lacks %q (err %v):\n%s\nserver log:\n%s", want, err, out, logs)
		}
	}
}

// TestTurnCommandCoturnConfigs: `switchboard turn -c` starts with Debian's
// stock turnserver.conf and a guide's config as they are (the test only
// moves the listeners to 127.0.0.1:0, sets a certificate and, for
// Debian's file, adds the authentication it lacks), with one warning per
// ignored key; a file with many problems gets them all in one error.
func TestTurnCommandCoturnConfigs(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writeTestCert(t, cert, key)
	for _, tc := range []struct {
		file  string
		warns int
	}{
		{"debian-4.6.1.conf", 4},
		{"guide.conf", 9},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "turn", "testdata", "coturn", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			st, logs := startTurnCommand(t, string(b), "--listening-port", "0", "--tls-listening-port", "0",
				"--cert", cert, "--pkey", key, "--external-ip", "127.0.0.1", "--log-file", "stderr", "--min-port", "43000", "--max-port", "44000")
			if st.UDPAddr() == nil || st.TLSAddr() == nil {
				t.Fatalf("listeners: udp %v tls %v", st.UDPAddr(), st.TLSAddr())
			}
			if n := strings.Count(logs.String(), `level=WARN msg="coturn option ignored"`); n != tc.warns {
				t.Errorf("%d warnings, want %d:\n%s", n, tc.warns, logs)
			}
		})
	}
	bad := filepath.Join("..", "..", "turn", "testdata", "coturn", "many-problems.conf")
	_, err := parseTurnArgs([]string{"-c", bad}, io.Discard)
	for _, line := range []string{":3: ", ":4: ", ":5: ", ":7: ", ":8: ", ":9, ", ":12: ", ":13: "} {
		if err == nil || !strings.Contains(err.Error(), bad+line) {
			t.Errorf("the error lacks line %s:\n%v", line, err)
		}
	}
}
