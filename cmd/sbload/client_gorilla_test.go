package main

import (
	"io"
	"os"
	"strconv"
	"testing"
)

// TestBurstGorillaClient runs the burst with clients that read and write
// through gorilla and decode every message, against a real server, in
// both directions and one way.
func TestBurstGorillaClient(t *testing.T) {
	url, _, _ := testServer(t, 1e6)
	for _, dir := range []string{directionBoth, directionOneWay} {
		t.Run(dir, func(t *testing.T) {
			errs := newErrorLog()
			cfg := testConfig(t, url, "-scenario", "burst", "-client", "gorilla", "-direction", dir,
				"-pairs", "3", "-offers", "140", "-bursts", "2", "-server-pid", strconv.Itoa(os.Getpid()),
				"-duration", "10s") // a burst ends when all arrived: the bound only has to fit a busy machine
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
			// The server runs in this process: its threads park and wake.
			if res.Server.volCS <= 0 {
				t.Errorf("server counters %+v: no voluntary context switch", res.Server)
			}
			if res.Client != clientGorilla || res.Direction != dir || res.ServerCPU <= 0 || res.Latency.N != uint64(res.Received) {
				t.Errorf("client %q, direction %q, server CPU %s, %d latency samples", res.Client, res.Direction, res.ServerCPU, res.Latency.N)
			}
		})
	}
}

// TestRelayGorillaClient relays flat out with gorilla clients, whose
// readers give the senders' windows back.
func TestRelayGorillaClient(t *testing.T) {
	url, _, _ := testServer(t, 1e6)
	errs := newErrorLog()
	cfg := testConfig(t, url, "-client", "gorilla", "-pairs", "2", "-window", "4")
	res, err := runRelay(t.Context(), cfg, errs, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if errs.total() != 0 {
		t.Fatalf("errors:\n%s", errs)
	}
	if res.Sent == 0 || res.Received != res.Sent || res.Latency.N == 0 {
		t.Errorf("sent %d, received %d, %d latency samples", res.Sent, res.Received, res.Latency.N)
	}
}

func TestClientConfig(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-client", "gorilla"}, true},
		{[]string{"-client", "gorilla", "-scenario", "burst", "-direction", "one-way"}, true},
		{[]string{"-client", "gorilla", "-scenario", "burst", "-protocol", "peerjs"}, true},
		{[]string{"-client", "browser"}, false},
		{[]string{"-client", "gorilla", "-scenario", "idle"}, false},
		{[]string{"-client", "gorilla", "-transport", "sse"}, false},
		{[]string{"-scenario", "burst", "-direction", "sideways"}, false},
		{[]string{"-direction", "one-way"}, false},
		{[]string{"-scenario", "burst", "-perf-control", "/tmp/ctl,/tmp/ack"}, true},
		{[]string{"-scenario", "burst", "-perf-control", "/tmp/ctl"}, false},
		{[]string{"-perf-control", "/tmp/ctl,/tmp/ack"}, false},
	} {
		_, err := parseConfig(tc.args, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok %v", tc.args, err, tc.ok)
		}
	}
}
