package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"go.uber.org/goleak"

	"github.com/switchboard-rtc/switchboard/signaling"
)

// testServer runs a signaling server and /metrics on 127.0.0.1:0 and
// returns the two URLs and the server; rateLimit 0 keeps the server's
// default.
func testServer(t *testing.T, rateLimit float64) (wsURL, metricsURL string, srv *signaling.Server) {
	t.Helper()
	return testServerWith(t, func(cfg *signaling.Config) {
		if rateLimit > 0 {
			// The load comes from one address, flat out: lift every limit
			// that is there for the open internet, as bench.sh does.
			cfg.RateLimit, cfg.RateBurst = rateLimit, int(rateLimit)
			cfg.ByteRate, cfg.ByteBurst = 1<<30, 1<<30
			cfg.JoinRatePerAddr, cfg.JoinBurstPerAddr = rateLimit, int(rateLimit)
			cfg.RoomJoinRate, cfg.RoomJoinBurst = rateLimit, int(rateLimit)
		}
	})
}

// testServerWith is testServer with the server's config adjusted by tune.
func testServerWith(t *testing.T, tune func(*signaling.Config)) (wsURL, metricsURL string, srv *signaling.Server) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	cfg := signaling.Config{Logger: slog.New(slog.DiscardHandler), Registerer: reg}
	tune(&cfg)
	srv, err := signaling.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", srv.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := errors.Join(hs.Shutdown(ctx), srv.Shutdown(ctx)); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	addr := ln.Addr().String()
	return "ws://" + addr + "/v1/ws", "http://" + addr + "/metrics", srv
}

// testConfig parses args over short-run defaults.
func testConfig(t *testing.T, url string, args ...string) *config {
	t.Helper()
	base := []string{"-url", url, "-duration", "700ms", "-warmup", "200ms", "-drain", "1s",
		"-settle", "100ms", "-dial-timeout", "5s", "-progress", "off"}
	cfg, err := parseConfig(append(base, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestMain fails the package if a scenario leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRelayFlatOut(t *testing.T) {
	url, _, _ := testServer(t, 1e6)
	errs := newErrorLog()
	// A dial timeout shorter than the run: setup deadlines must not outlive
	// the setup.
	cfg := testConfig(t, url, "-pairs", "2", "-window", "4", "-dial-timeout", "500ms")
	res, err := runRelay(t.Context(), cfg, errs, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if errs.total() != 0 {
		t.Fatalf("errors:\n%s", errs)
	}
	if res.Sent == 0 || res.Received != res.Sent || res.InWindow == 0 || res.MsgsPerSec <= 0 {
		t.Errorf("sent %d, received %d, %d in window, %.0f msgs/s", res.Sent, res.Received, res.InWindow, res.MsgsPerSec)
	}
	if l := res.Latency; l.N == 0 || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
		t.Errorf("latency %+v", l)
	}
	// Every offer reached the socket no later than it was read.
	if a, l := res.Arrival, res.Latency; a.N != l.N || a.P50 > l.P50 || a.P99 > l.P99 || a.Max > l.Max {
		t.Errorf("arrival %+v, latency %+v", a, l)
	}
	if res.Pairs != 2 || res.Measured < 600*time.Millisecond {
		t.Errorf("%d pairs, measured %s", res.Pairs, res.Measured)
	}
}

func TestRelayPaced(t *testing.T) {
	url, _, _ := testServer(t, 1e6)
	errs := newErrorLog()
	const rate = 400
	cfg := testConfig(t, url, "-pairs", "2", "-rate", "400", "-server-pid", "0")
	res, err := runRelay(t.Context(), cfg, errs, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if errs.total() != 0 {
		t.Fatalf("errors:\n%s", errs)
	}
	want := rate * (cfg.Warmup + cfg.Duration).Seconds()
	if float64(res.Sent) < want*0.5 || float64(res.Sent) > want*1.1 || res.Received != res.Sent {
		t.Errorf("sent %d, received %d; want about %.0f", res.Sent, res.Received, want)
	}
	if res.Latency.N == 0 {
		t.Error("no latency samples")
	}
}

func TestIdle(t *testing.T) {
	url, metrics, _ := testServer(t, 0)
	errs := newErrorLog()
	cfg := testConfig(t, url, "-scenario", "idle", "-conns", "7", "-duration", "400ms", "-sources", "3",
		"-server-pid", strconv.Itoa(os.Getpid()), "-metrics-url", metrics)
	res, err := runIdle(t.Context(), cfg, errs, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if errs.total() != 0 {
		t.Fatalf("errors:\n%s", errs)
	}
	if res.Connected != 7 || res.Dropped != 0 || res.Connect.N != 7 || res.Held < 400*time.Millisecond {
		t.Errorf("connected %d, dropped %d, %d connect samples, held %s", res.Connected, res.Dropped, res.Connect.N, res.Held)
	}
	if res.Before.RSS <= 0 || res.End.RSS <= 0 || res.PeakRSS < res.End.RSS {
		t.Errorf("RSS before %d, end %d, peak %d", res.Before.RSS, res.End.RSS, res.PeakRSS)
	}
	if res.End.Metrics["go_goroutines"] <= 0 || res.End.Metrics["go_memstats_heap_inuse_bytes"] <= 0 {
		t.Errorf("metrics %v", res.End.Metrics)
	}
}

// TestRunFailsOnErrors runs the tool against a server with its default
// rate limit: offers beyond it are refused, and the run must fail.
func TestRunFailsOnErrors(t *testing.T) {
	url, _, _ := testServer(t, 0)
	var out, log bytes.Buffer
	cfg := testConfig(t, url, "-pairs", "1", "-window", "64", "-drain", "200ms", "-json")
	err := run(t.Context(), cfg, &out, &log)
	if !errors.Is(err, errTooMany) {
		t.Fatalf("run: %v, want %v; log:\n%s", err, errTooMany, &log)
	}
	var sum map[string]any
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("summary %q: %v", &out, err)
	}
	kinds, _ := sum["error_kinds"].(map[string]any)
	if kinds["server:rate_limited"] == nil {
		t.Errorf("error kinds %v, want server:rate_limited", kinds)
	}
}

// TestServerCloseCounted shuts the server down mid-run: every connection
// it closes must count as an error.
func TestServerCloseCounted(t *testing.T) {
	url, metricsURL, srv := testServer(t, 1e6)
	errs := newErrorLog()
	cfg := testConfig(t, url, "-pairs", "2", "-rate", "200", "-drain", "100ms")
	stopped := make(chan error, 1)
	go func() {
		// Shut down once offers are flowing, so the run is under way.
		waitRelayed(metricsURL, 5*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- srv.Shutdown(ctx)
	}()
	if _, err := runRelay(t.Context(), cfg, errs, t.Logf); err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if n := errs.counts()["closed"]; n != 4 {
		t.Errorf("%d closed errors, want 4:\n%s", n, errs)
	}
}

func TestRunJSON(t *testing.T) {
	url, _, _ := testServer(t, 1e6)
	var out bytes.Buffer
	cfg := testConfig(t, url, "-pairs", "1", "-duration", "300ms", "-warmup", "100ms", "-json")
	if err := run(t.Context(), cfg, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 1 {
		t.Errorf("%d lines of output, want 1: %q", lines, &out)
	}
	var sum relayJSON
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Scenario != "relay" || sum.MsgsPerS <= 0 || sum.P99ms <= 0 || sum.Errors != 0 {
		t.Errorf("summary %+v", sum)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-scenario", "idle", "-conns", "1"}, true},
		{[]string{"-url", "http://127.0.0.1/v1/ws"}, false},
		{[]string{"-scenario", "bulk"}, false},
		{[]string{"-scenario", "idle", "-conns", "0"}, false},
		{[]string{"-scenario", "idle", "-rooms", "many"}, false},
		{[]string{"-pairs", "0"}, false},
		{[]string{"-rate", "-1"}, false},
		{[]string{"-pairs", "1", "-rate", "3e6"}, false},
		{[]string{"-window", "0"}, false},
		{[]string{"-size", "100"}, false},
		{[]string{"-size", "70000"}, false},
		{[]string{"-duration", "0s"}, false},
		{[]string{"-metrics-url", "127.0.0.1:8080/metrics"}, false},
		{[]string{"-progress", "maybe"}, false},
		{[]string{"stray"}, false},
		{[]string{"-transport", "sse"}, true},
		{[]string{"-transport", "poll", "-scenario", "idle"}, true},
		{[]string{"-transport", "grpc"}, false},
		{[]string{"-transport", "sse", "-url", "wss://127.0.0.1/v1/ws"}, false},
		{[]string{"-url", "wss://127.0.0.1/v1/ws"}, true},
		{[]string{"-scenario", "resume", "-rounds", "3", "-events", "100"}, true},
		{[]string{"-scenario", "resume", "-rounds", "0"}, false},
		{[]string{"-scenario", "resume", "-events", "2000"}, false},
		{[]string{"-peer-url", "ws://127.0.0.1:8081/v1/ws"}, true},
		{[]string{"-peer-url", "http://127.0.0.1:8081/v1/ws"}, false},
		{[]string{"-peer-url", "ws://127.0.0.1:8081/v1/ws", "-transport", "sse"}, false},
		{[]string{"-peer-url", "ws://127.0.0.1:8081/v1/ws", "-scenario", "idle"}, false},
		{[]string{"-scenario", "idle", "-sources", "4"}, true},
		{[]string{"-scenario", "idle", "-sources", "254"}, false},
		{[]string{"-scenario", "idle", "-sources", "-1"}, false},
		{[]string{"-scenario", "idle", "-transport", "sse", "-sources", "4"}, false},
		{[]string{"-sources", "4"}, false},
	} {
		_, err := parseConfig(tc.args, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok %v", tc.args, err, tc.ok)
		}
	}
	var usage bytes.Buffer
	if _, err := parseConfig([]string{"--help"}, &usage); !errors.Is(err, flag.ErrHelp) || !strings.Contains(usage.String(), "-window") {
		t.Errorf("--help: %v, usage %q", err, &usage)
	}
}

func TestOfferFrames(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for _, size := range []int{minFrameSize, 1500, 1501, 4096, maxFrameSize} {
		o := newOfferBatch("PEER", size, 3, key)
		const ts = 123456789
		frames := o.stamp(2, ts)
		if len(frames) != 2*o.frame {
			t.Fatalf("size %d: %d bytes for 2 frames of %d", size, len(frames), o.frame)
		}
		frame := frames[o.frame:] // the second frame
		if frame[0] != finBit|opText || frame[1] != maskBit|126 || int(frame[2])<<8|int(frame[3]) != size {
			t.Fatalf("size %d: header % x", size, frame[:4])
		}
		payload := bytes.Clone(frame[o.hdr:])
		for i := range payload {
			payload[i] ^= key[i&3]
		}
		var msg struct{ Type, To, SDP string }
		if err := json.Unmarshal(payload, &msg); err != nil {
			t.Fatalf("size %d: %v in %q", size, err, payload)
		}
		if msg.Type != "offer" || msg.To != "PEER" || !strings.HasPrefix(msg.SDP, "v=0\r\n") || !strings.HasSuffix(msg.SDP, "\r\n") {
			t.Errorf("size %d: %+v", size, msg)
		}
		if got, ok := parseStamp(payload); !ok || got != ts {
			t.Errorf("size %d: stamp %d %v, want %d", size, got, ok, ts)
		}
	}
	if _, ok := parseStamp([]byte(`{"type":"offer","sdp":"o=- 12x"}`)); ok {
		t.Error("parsed a bad stamp")
	}
}

func TestHistogram(t *testing.T) {
	var h, other histogram
	for v := 1; v <= 10000; v++ {
		d := time.Duration(v) * time.Microsecond
		if v%2 == 0 {
			h.record(d)
		} else {
			other.record(d)
		}
	}
	h.merge(&other)
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.9, 9 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*(1+1.0/histSub) {
			t.Errorf("q%.2f = %s, want %s to +%.1f%%", tc.q, got, tc.want, 100.0/histSub)
		}
	}
	if h.n != 10000 || h.min != int64(time.Microsecond) || h.max != int64(10*time.Millisecond) {
		t.Errorf("n %d, min %d, max %d", h.n, h.min, h.max)
	}
	if m := h.mean(); math.Abs(float64(m-5000500*time.Nanosecond)) > 1000 {
		t.Errorf("mean %s", m)
	}
	for _, v := range []int64{0, 1, 127, 128, 129, 1 << 20, 1<<62 + 12345, math.MaxInt64} {
		if b := bucketOf(v); b >= histBuckets || bucketTop(b) < v || (b > 0 && bucketTop(b-1) >= v) {
			t.Errorf("value %d in bucket %d (top %d)", v, b, bucketTop(b))
		}
	}
}

// waitRelayed polls the server's metrics until it has relayed an offer or
// the bound passes.
func waitRelayed(metricsURL string, bound time.Duration) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(bound)
	for {
		if resp, err := http.Get(metricsURL); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			const series = `switchboard_signaling_relayed_total{type="offer"} `
			for _, line := range strings.Split(string(body), "\n") {
				if v, ok := strings.CutPrefix(line, series); ok && v != "0" {
					return
				}
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			return
		}
	}
}

func TestBurst(t *testing.T) {
	url, _, _ := testServer(t, 1e6)
	errs := newErrorLog()
	// The server runs in this process, so its CPU is this process's.
	cfg := testConfig(t, url, "-scenario", "burst", "-pairs", "3", "-offers", "140", "-bursts", "2",
		"-server-pid", strconv.Itoa(os.Getpid()), "-duration", "10s") // a burst ends when all arrived: the bound only has to fit a busy machine
	res, err := runBurst(t.Context(), cfg, errs, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if errs.total() != 0 {
		t.Fatalf("errors:\n%s", errs)
	}
	if want := int64(3 * 140 * 2); res.Sent != want || res.Received != want {
		t.Errorf("sent %d, received %d; want %d", res.Sent, res.Received, want)
	}
	if res.Wall <= 0 || res.ServerCPU <= 0 || res.perMsg(res.ServerCPU) <= 0 || res.Latency.N != uint64(res.Received) {
		t.Errorf("wall %s, server CPU %s, %d latency samples", res.Wall, res.ServerCPU, res.Latency.N)
	}
	var out bytes.Buffer
	if err := res.writeJSON(&out); err != nil || !strings.Contains(out.String(), `"server_us_per_msg":`) {
		t.Errorf("JSON %q: %v", out.String(), err)
	}
}

func TestPeerJSOffer(t *testing.T) {
	for _, size := range []int{minPeerJSSize, 1500, 4096} {
		payload, stampAt := peerjsOffer("PEER", size)
		if len(payload) != size {
			t.Fatalf("size %d: %d bytes", size, len(payload))
		}
		var msg struct {
			Type, Dst string
			Payload   struct {
				Type string
				SDP  struct{ Type, SDP string }
			}
		}
		if err := json.Unmarshal(payload, &msg); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if msg.Type != "OFFER" || msg.Dst != "PEER" || msg.Payload.SDP.Type != "offer" || !strings.HasPrefix(msg.Payload.SDP.SDP, "v=0\r\no=- ") {
			t.Errorf("size %d: %+v", size, msg)
		}
		if !bytes.HasPrefix(payload, peerjsOfferPrefix) || string(payload[stampAt-4:stampAt]) != "o=- " {
			t.Errorf("size %d: prefix or stamp offset wrong", size)
		}
	}
	cfg, err := parseConfig([]string{"-protocol", "peerjs", "-scenario", "idle"}, io.Discard)
	if err == nil {
		t.Errorf("peerjs idle accepted: %+v", cfg)
	}
}

// TestHoardScenario: the replay-buffer attack against a server with a
// small buffer budget: hoarders are cut with over_budget, the healthy
// pair's probes arrive.
func TestHoardScenario(t *testing.T) {
	url, _, _ := testServerWith(t, func(cfg *signaling.Config) {
		cfg.MaxBufferedBytes = 8 << 20
		cfg.ByteRate, cfg.ByteBurst = 1<<30, 1<<30
		cfg.RateLimit, cfg.RateBurst = 1e4, 1e4
		cfg.JoinRatePerAddr, cfg.JoinBurstPerAddr = 1e4, 1e4
	})
	cfg := testConfig(t, url, "-scenario", "hoard", "-pairs", "16", "-offers", "20", "-size", "61440", "-duration", "2s", "-rate", "100")
	res, err := runHoard(t.Context(), cfg, newErrorLog(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	// 16 hoarders of 1.2 MB, each held to ReplayBytes (1 MiB by default),
	// against 8 MiB: at most 8 full buffers fit, so at least 8 go (more
	// when a cut lands while the buffers are still filling).
	if res.Cut < 8 || res.Probes < 100 || res.OtherEnds != 0 {
		t.Fatalf("%+v: want at least 8 hoarders cut, the probes through and no other ends", res)
	}
}
