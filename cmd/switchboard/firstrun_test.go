package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/turn"
)

func TestPageURL(t *testing.T) {
	parallel(t)
	for _, tt := range []struct {
		addr string
		tls  bool
		want string
	}{
		{"0.0.0.0:8080", false, "http://localhost:8080"},
		{"[::]:8080", false, "http://localhost:8080"},
		{"127.0.0.1:9000", true, "https://127.0.0.1:9000"},
		{"[2001:db8::1]:443", true, "https://[2001:db8::1]:443"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := pageURL(addr, tt.tls); got != tt.want {
			t.Errorf("pageURL(%s, %v) = %s, want %s", tt.addr, tt.tls, got, tt.want)
		}
	}
}

func TestAdvertiseWarnings(t *testing.T) {
	parallel(t)
	// This host has 127.0.0.1, 10.0.0.5 and 100.20.30.40; a NAT maps
	// 100.20.30.41 here. Nothing is sent anywhere.
	var probed []string
	host := hostView{
		addrs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 0, 5), net.IPv4(100, 20, 30, 40)},
		probe: func(dst string) bool { probed = append(probed, dst); return dst == "100.20.30.41:3478" },
	}
	for _, tt := range []struct {
		turn, public string
		allowPrivate bool
		want         []string // substrings, one per warning
		probe        bool     // a STUN round trip was tried
	}{
		{"127.0.0.1:3478", "100.20.30.40", false, []string{"cannot reach it"}, false},
		{"127.0.0.1:3478", "127.0.0.1", false, nil, false},
		{"0.0.0.0:3478", "100.20.30.40", false, nil, false},
		{"10.0.0.5:3478", "100.20.30.41", false, nil, true}, // 1:1 NAT, as on most clouds
		{"0.0.0.0:3478", "10.0.0.5", false, []string{"private address"}, false},
		{"0.0.0.0:3478", "10.0.0.5", true, nil, false},
		{"127.0.0.1:3478", "10.1.2.3", false, []string{"cannot reach it", "no answer from this relay", "private address"}, true},
		// Addresses that are not this host's, each with its fix.
		{"127.0.0.1:3478", "127.0.0.2", false, []string{"loopback address this host does not have"}, false},
		{"0.0.0.0:3478", "127.0.0.2", false, []string{"loopback address this host does not have"}, false},
		{"0.0.0.0:3478", "192.0.2.1", false, []string{"192.0.2.0/24, reserved for documentation"}, false},
		{"0.0.0.0:3478", "203.0.113.10", false, []string{"set -public-ip to this server's public address"}, false},
		{"0.0.0.0:3478", "198.18.0.1", false, []string{"198.18.0.0/15"}, false},
		{"0.0.0.0:3478", "100.20.30.99", false, []string{"got no answer from this relay within 1s: browsers are told turn:100.20.30.99:3478"}, true},
		{"10.0.0.5:3478", "100.20.30.40", false, []string{"set -public-ip 10.0.0.5, or listen on all interfaces"}, false},
	} {
		addr, err := net.ResolveUDPAddr("udp", tt.turn)
		if err != nil {
			t.Fatal(err)
		}
		probed = nil
		got := advertiseWarnings(addr, net.ParseIP(tt.public), tt.allowPrivate, host)
		if len(got) != len(tt.want) || (len(probed) > 0) != tt.probe {
			t.Errorf("%s advertised as %s (private peers %v): %q after probing %q, want %d warning(s)",
				tt.turn, tt.public, tt.allowPrivate, got, probed, len(tt.want))
			continue
		}
		for i, w := range tt.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("warning %q lacks %q", got[i], w)
			}
		}
	}
	if w := (hostView{}).reachability(&net.UDPAddr{Port: 3478}, net.IPv4(100, 20, 30, 99)); w != "" {
		t.Errorf("without the host's addresses: %q", w)
	}
}

// TestProbeReachesOwnRelay: the start-up's STUN round trip is answered by
// a real relay on 127.0.0.1 and not by a port where nothing listens.
func TestProbeReachesOwnRelay(t *testing.T) {
	parallel(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relay, err := turn.NewServer(turn.Config{UDP: []net.PacketConn{pc}, PublicIP: net.IPv4(127, 0, 0, 1), STUNOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	closed, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.LocalAddr().String()
	closed.Close()
	host := thisHost(context.Background())
	if !host.probe(pc.LocalAddr().String()) {
		t.Error("the relay did not answer the probe")
	}
	if host.probe(closedAddr) {
		t.Error("a closed port answered the probe")
	}
}

func TestUsageAndVersion(t *testing.T) {
	parallel(t)
	var out strings.Builder
	_, err := parseConfig([]string{"--help"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	if !strings.HasPrefix(first, "switchboard: a WebRTC signaling server") || !strings.Contains(out.String(), "Example:\n  switchboard ") || !strings.Contains(out.String(), "-turn-secret") {
		t.Errorf("usage:\n%s", out.String())
	}
	// -version needs nothing else to be valid.
	c, err := parseConfig([]string{"-version", "-public-ip", "not-an-ip"}, func(string) string { return "" }, io.Discard)
	if err != nil || !c.ShowVersion {
		t.Fatalf("-version: %+v, %v", c, err)
	}
	if v := version(); !strings.HasPrefix(v, "switchboard ") {
		t.Errorf("version() = %q", v)
	}
}

// TestStartupTellsWhatToOpen: the server logs the page's URL at start, and
// warns when the relay listens on loopback but advertises another address.
func TestStartupTellsWhatToOpen(t *testing.T) {
	parallel(t)
	c, err := parseConfig([]string{"-public-ip", "203.0.113.10", "-turn-secret", "test-secret-0123456789"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	wrote := make(chan struct{}, 1)
	log := slog.New(slog.NewTextHandler(notifyWriter{logs, wrote}, nil))
	var ls listeners
	if ls.http, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if ls.turnUDP, err = turn.ListenUDP("udp4", "127.0.0.1:0", 1, 0, log); err != nil {
		t.Fatal(err)
	}
	if ls.turnTCP, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, c, ls, log, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	wantURL := fmt.Sprintf("url=http://%s", ls.http.Addr())
	deadline := time.After(10 * time.Second)
	for !strings.Contains(logs.String(), wantURL) || !strings.Contains(logs.String(), "cannot reach it") {
		select {
		case <-wrote:
		case <-deadline:
			t.Fatalf("start-up log lacks %q or the TURN warning:\n%s", wantURL, logs.String())
		}
	}
}

// notifyWriter signals each write, so a test waits for log lines as events.
type notifyWriter struct {
	w     io.Writer
	wrote chan struct{}
}

func (n notifyWriter) Write(p []byte) (int, error) {
	defer func() {
		select {
		case n.wrote <- struct{}{}:
		default:
		}
	}()
	return n.w.Write(p)
}

// TestStartupChecksPublicIP: a real server with its relay on 127.0.0.1
// warns at start when -public-ip is not this host's, and names the fix;
// nothing is sent beyond loopback (the addresses tried need no probe).
func TestStartupChecksPublicIP(t *testing.T) {
	parallel(t)
	for _, tt := range []struct{ public, want string }{
		{"127.0.0.1", ""},
		{"127.0.0.2", "-public-ip 127.0.0.2 is a loopback address this host does not have"},
		{"192.0.2.1", "set -public-ip to this server's public address"},
		{"198.18.0.1", "reserved for documentation and tests"},
	} {
		t.Run(tt.public, func(t *testing.T) {
			logs := startupLog(t, "-public-ip", tt.public, "-turn-secret", "test-secret-0123456789")
			if tt.want == "" && strings.Contains(logs, "level=WARN") || tt.want != "" && !strings.Contains(logs, tt.want) {
				t.Errorf("want %q in the start-up log:\n%s", tt.want, logs)
			}
		})
	}
}

// startupLog runs the server with its listeners on 127.0.0.1:0 and returns
// its log up to the line that follows the start-up warnings.
func startupLog(t *testing.T, args ...string) string {
	t.Helper()
	c, err := parseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	wrote := make(chan struct{}, 1)
	log := slog.New(slog.NewTextHandler(notifyWriter{logs, wrote}, nil))
	var ls listeners
	if ls.http, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if ls.turnUDP, err = turn.ListenUDP("udp4", "127.0.0.1:0", 1, 0, log); err != nil {
		t.Fatal(err)
	}
	if ls.turnTCP, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, c, ls, log, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(logs.String(), "no -public-url") { // logged after the warnings
		select {
		case <-wrote:
		case <-deadline:
			t.Fatalf("start-up log incomplete:\n%s", logs.String())
		}
	}
	return logs.String()
}

// TestVersionSources: -version prints the module version, commit and date
// from Go's build information, else from the -ldflags stamps.
func TestVersionSources(t *testing.T) {
	parallel(t)
	full := &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"},
		{Key: "vcs.time", Value: "2026-08-01T10:00:00Z"},
	}}
	devel := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	for _, tt := range []struct {
		bi                    *debug.BuildInfo
		version, commit, date string
		want                  string
	}{
		{full, "", "", "", "switchboard v1.4.0 (commit 0123456789ab-dirty, committed 2026-08-01T10:00:00Z)"},
		{full, "v9", "ffff", "2026-08-02T00:00:00Z", "switchboard v1.4.0 (commit 0123456789ab-dirty, built 2026-08-02T00:00:00Z)"},
		{devel, "v1.5.0-rc1", "abcdef0123456789", "2026-08-03T00:00:00Z", "switchboard v1.5.0-rc1 (commit abcdef012345, built 2026-08-03T00:00:00Z)"},
		{devel, "", "", "", "switchboard devel"},
		{nil, "", "abc", "", "switchboard devel (commit abc)"},
	} {
		if got := versionOf(tt.bi, tt.bi != nil, tt.version, tt.commit, tt.date); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
