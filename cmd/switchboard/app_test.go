package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/turn"
)

// testApp is the whole binary running in-process on 127.0.0.1:0 sockets.
type testApp struct {
	cfg     *config
	httpURL string // http://127.0.0.1:port
	wsURL   string // ws://127.0.0.1:port/v1/ws
	turnUDP *net.UDPAddr
	turnTCP *net.TCPAddr
	reload  chan struct{} // what SIGHUP sends; unbuffered
	stop    func() error  // shuts down and returns run's error
}

// startApp runs the server with test defaults, adjusted by tweak, and
// stops it when the test ends.
func startApp(t *testing.T, tweak func(*config)) *testApp {
	t.Helper()
	c, err := parseConfig([]string{
		"-public-ip", "127.0.0.1", "-relay-bind", "127.0.0.1",
		"-turn-secret", "test-secret-0123456789", "-relay-ports", "40000-60000",
	}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(c)
		if err := c.validate(); err != nil {
			t.Fatal(err)
		}
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var ls listeners
	if ls.http, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	// The relay listens on 127.0.0.1, or on the host a tweak put in
	// c.TURNAddr (another loopback address), always on a port from :0.
	turnAddr := "127.0.0.1:0"
	if host, _, _ := net.SplitHostPort(c.TURNAddr); host != "" {
		turnAddr = net.JoinHostPort(host, "0")
	}
	if ls.turnUDP, err = turn.ListenUDP("udp4", turnAddr, 2, 0, log); err != nil {
		t.Fatal(err)
	}
	if ls.turnTCP, err = net.Listen("tcp4", turnAddr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	reload := make(chan struct{}) // unbuffered: a send returns once run has taken it
	go func() { done <- run(ctx, c, ls, log, reload) }()
	var stopped bool
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(c.ShutdownTimeout + 5*time.Second):
				t.Error("server did not stop")
			}
		}
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	addr := ls.http.Addr().String()
	return &testApp{
		cfg: c, httpURL: "http://" + addr, wsURL: "ws://" + addr + "/v1/ws",
		turnUDP: ls.turnUDP[0].LocalAddr().(*net.UDPAddr), turnTCP: ls.turnTCP.Addr().(*net.TCPAddr),
		reload: reload, stop: stop,
	}
}
