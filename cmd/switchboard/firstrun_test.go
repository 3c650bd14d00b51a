package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/turn"
)

func TestPageURL(t *testing.T) {
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
	for _, tt := range []struct {
		turn, public string
		allowPrivate bool
		want         []string // substrings, one per warning
	}{
		{"127.0.0.1:3478", "203.0.113.10", false, []string{"cannot reach it"}},
		{"127.0.0.1:3478", "127.0.0.1", false, nil},
		{"0.0.0.0:3478", "203.0.113.10", false, nil},
		{"10.0.0.5:3478", "203.0.113.10", false, nil}, // 1:1 NAT, as on most clouds
		{"0.0.0.0:3478", "192.168.1.5", false, []string{"private address"}},
		{"0.0.0.0:3478", "192.168.1.5", true, nil},
		{"127.0.0.1:3478", "10.1.2.3", false, []string{"cannot reach it", "private address"}},
	} {
		addr, err := net.ResolveUDPAddr("udp", tt.turn)
		if err != nil {
			t.Fatal(err)
		}
		got := advertiseWarnings(addr, net.ParseIP(tt.public), tt.allowPrivate)
		if len(got) != len(tt.want) {
			t.Errorf("%s advertised as %s (private peers %v): %q, want %d warning(s)", tt.turn, tt.public, tt.allowPrivate, got, len(tt.want))
			continue
		}
		for i, w := range tt.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("warning %q lacks %q", got[i], w)
			}
		}
	}
}

func TestUsageAndVersion(t *testing.T) {
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
