package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The burst scenario measures what a relayed offer costs the server: every
// peer of every pair writes its share of -offers to its partner at once,
// and the server's CPU time (from /proc/<pid>/stat) is read from just
// before the first write to just after the last offer arrived, then
// divided by the offers relayed. It speaks switchboard's protocol or
// PeerJS's, so that both servers are measured the same way.

// burstChunk bounds the offers of one write: a burst is as many writes
// back to back as the peer's share needs.
const burstChunk = 64

// countdown closes its channel once the armed number of offers arrived.
type countdown struct {
	left atomic.Int64
	mu   sync.Mutex
	zero chan struct{}
}

func (c *countdown) arm(n int64) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.zero = make(chan struct{})
	c.left.Store(n)
	return c.zero
}

func (c *countdown) done() {
	if c.left.Add(-1) == 0 {
		c.mu.Lock()
		close(c.zero)
		c.mu.Unlock()
	}
}

// burstResult is what a burst run reports; CPU figures cover the bursts
// only, not the setup.
type burstResult struct {
	Protocol  string
	Client    string
	Direction string
	Pairs     int
	Offers    int // per pair and burst
	Bursts    int
	Size      int
	Sent      int64
	Received  int64
	Wall      time.Duration // first write to last arrival, summed over bursts
	ServerCPU time.Duration
	ClientCPU time.Duration
	// Server is the server's page faults and context switches during the
	// bursts (with -server-pid, Linux).
	Server      procCounters
	MachineCPU  time.Duration // all busy CPU on the machine (Linux)
	Latency     latencies
	Errors      map[string]int
	ErrorTotal  int
	Interrupted bool
}

// burstShares is how many offers the first and the second peer of a pair
// send per burst.
func burstShares(cfg *config) (first, second int) {
	if cfg.Direction == directionOneWay {
		return cfg.Offers, 0
	}
	return cfg.Offers / 2, cfg.Offers / 2
}

func runBurst(ctx context.Context, cfg *config, errs *errorLog, logf func(string, ...any)) (*burstResult, error) {
	first, second := burstShares(cfg)
	bc := *cfg
	bc.Window = min(first, burstChunk)
	peers := setupPairs(ctx, &bc, errs)
	if len(peers) == 0 {
		return nil, errNoPeers
	}
	// Peers come in pairs, the first of each at an even index.
	share := func(i int) int {
		if i%2 == 0 {
			return first
		}
		return second
	}
	perPair := first + second
	logf("burst over %s with %s clients: %d pairs up, %d errors; %d bursts of %d offers per pair, %s",
		cfg.Protocol, cfg.Client, len(peers)/2, errs.total(), cfg.Bursts, perPair, cfg.Direction)
	var perf *perfControl
	if cfg.PerfControl != "" {
		var err error
		if perf, err = openPerfControl(cfg.PerfControl); err != nil {
			closeWS(peers)
			return nil, err
		}
		defer perf.Close()
	}
	cd := &countdown{}
	for _, p := range peers {
		p.countdown = cd
	}
	ph := phases{begin: now(), warm: 0, end: math.MaxInt64}
	for _, p := range peers {
		go p.read(ph, errs)
	}
	res := &burstResult{Protocol: cfg.Protocol, Client: cfg.Client, Direction: cfg.Direction, Pairs: len(peers) / 2,
		Offers: perPair, Bursts: cfg.Bursts, Size: cfg.Size}
	for b := 0; b < cfg.Bursts && ctx.Err() == nil; b++ {
		want := int64(perPair * len(peers) / 2)
		zero := cd.arm(want)
		if perf != nil {
			if err := perf.command("enable"); err != nil {
				errs.add("probe", err)
			}
		}
		cnt0 := serverCounters(cfg, errs)
		cpu0, srv0 := selfCPU(), serverCPU(cfg, errs)
		mach0, machErr := machineCPU()
		t0 := now()
		var senders sync.WaitGroup
		for i, p := range peers {
			n := share(i)
			senders.Go(func() {
				for sent := 0; sent < n; {
					k := min(bc.Window, n-sent)
					if err := p.send(k, now()); err != nil {
						errs.add("write", err)
						return
					}
					p.sent.Add(int64(k))
					sent += k
				}
			})
		}
		senders.Wait()
		timeout := time.NewTimer(cfg.Duration)
		select {
		case <-zero:
		case <-timeout.C:
			errs.addN("lost", int(cd.left.Load()), fmt.Errorf("burst %d: %d of %d offers not received within -duration %s", b+1, cd.left.Load(), want, cfg.Duration))
		case <-ctx.Done():
			res.Interrupted = true
		}
		timeout.Stop()
		t1 := now()
		cpu1, srv1 := selfCPU(), serverCPU(cfg, errs)
		mach1, _ := machineCPU()
		cnt1 := serverCounters(cfg, errs)
		if perf != nil {
			if err := perf.command("disable"); err != nil {
				errs.add("probe", err)
			}
		}
		d := cnt1.sub(cnt0)
		res.Server.minflt += d.minflt
		res.Server.volCS += d.volCS
		res.Server.involCS += d.involCS
		res.Wall += time.Duration(t1 - t0)
		res.ClientCPU += cpu1 - cpu0
		if srv0 > 0 {
			res.ServerCPU += srv1 - srv0
		}
		if machErr == nil {
			res.MachineCPU += mach1.busy - mach0.busy
		}
	}
	closeWS(peers)
	var hist histogram
	for _, p := range peers {
		<-p.done
		res.Sent += p.sent.Load()
		res.Received += p.recv.Load()
		hist.merge(&p.hist)
	}
	res.Latency = hist.summary()
	res.Errors, res.ErrorTotal = errs.counts(), errs.total()
	return res, nil
}

// serverCounters reads the server's counters when its pid is known.
func serverCounters(cfg *config, errs *errorLog) procCounters {
	if cfg.ServerPID == 0 {
		return procCounters{}
	}
	c, err := readProcCounters(cfg.ServerPID)
	if err != nil {
		errs.add("probe", err)
	}
	return c
}

// perOffer is n per relayed offer.
func (r *burstResult) perOffer(n int64) float64 {
	if r.Received == 0 {
		return 0
	}
	return float64(n) / float64(r.Received)
}

// perMsg is d per relayed offer, in µs.
func (r *burstResult) perMsg(d time.Duration) float64 {
	if r.Received == 0 {
		return 0
	}
	return float64(d.Nanoseconds()) / 1e3 / float64(r.Received)
}

func (r *burstResult) cores(d time.Duration) float64 {
	if r.Wall <= 0 {
		return 0
	}
	return d.Seconds() / r.Wall.Seconds()
}

// burstJSON is the -json line of a burst run; keys are stable for scripts.
type burstJSON struct {
	Scenario       string  `json:"scenario"`
	Protocol       string  `json:"protocol"`
	Client         string  `json:"client"`
	Direction      string  `json:"direction"`
	Pairs          int     `json:"pairs"`
	Conns          int     `json:"conns"`
	Offers         int     `json:"offers"`
	Bursts         int     `json:"bursts"`
	Size           int     `json:"size"`
	Sent           int64   `json:"sent"`
	Received       int64   `json:"received"`
	WallS          float64 `json:"wall_s"`
	MsgsPerS       float64 `json:"msgs_per_s"`
	ServerCPUs     float64 `json:"server_cpu_s"`
	ServerUsPerMsg float64 `json:"server_us_per_msg"`
	ClientUsPerMsg float64 `json:"client_us_per_msg"`
	// The server's minor page faults and voluntary and involuntary
	// context switches (all threads) per relayed offer.
	ServerFaultsPerMsg  float64        `json:"server_minflt_per_msg"`
	ServerVolCSPerMsg   float64        `json:"server_vcsw_per_msg"`
	ServerInvolCSPerMsg float64        `json:"server_ivcsw_per_msg"`
	ServerCores         float64        `json:"server_cores"`
	ClientCores         float64        `json:"client_cores"`
	OtherCores          float64        `json:"other_cores"`
	P50ms               float64        `json:"p50_ms"`
	P99ms               float64        `json:"p99_ms"`
	MaxMs               float64        `json:"max_ms"`
	Errors              int            `json:"errors"`
	ErrorKinds          map[string]int `json:"error_kinds"`
	Interrupted         bool           `json:"interrupted"`
}

func (r *burstResult) otherCores() float64 {
	if r.MachineCPU <= 0 || r.ServerCPU <= 0 {
		return 0
	}
	return max(0, r.cores(r.MachineCPU-r.ServerCPU-r.ClientCPU))
}

func (r *burstResult) msgsPerSec() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Received) / r.Wall.Seconds()
}

func (r *burstResult) writeJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(burstJSON{
		Scenario: scenarioBurst, Protocol: r.Protocol, Client: r.Client, Direction: r.Direction, Pairs: r.Pairs, Conns: 2 * r.Pairs, Offers: r.Offers, Bursts: r.Bursts, Size: r.Size,
		Sent: r.Sent, Received: r.Received, WallS: r.Wall.Seconds(), MsgsPerS: r.msgsPerSec(),
		ServerCPUs: r.ServerCPU.Seconds(), ServerUsPerMsg: r.perMsg(r.ServerCPU), ClientUsPerMsg: r.perMsg(r.ClientCPU),
		ServerFaultsPerMsg: r.perOffer(r.Server.minflt), ServerVolCSPerMsg: r.perOffer(r.Server.volCS), ServerInvolCSPerMsg: r.perOffer(r.Server.involCS),
		ServerCores: r.cores(r.ServerCPU), ClientCores: r.cores(r.ClientCPU), OtherCores: r.otherCores(),
		P50ms: ms(r.Latency.P50), P99ms: ms(r.Latency.P99), MaxMs: ms(r.Latency.Max),
		Errors: r.ErrorTotal, ErrorKinds: r.Errors, Interrupted: r.Interrupted,
	})
}

func (r *burstResult) writeText(w io.Writer) {
	fmt.Fprintf(w, "burst over %s with %s clients: %d pairs, %d bursts of %d offers of %d B per pair, %s\n",
		r.Protocol, r.Client, r.Pairs, r.Bursts, r.Offers, r.Size, r.Direction)
	fmt.Fprintf(w, "  relayed   %d of %d offers in %.3fs: %.0f msgs/s\n", r.Received, r.Sent, r.Wall.Seconds(), r.msgsPerSec())
	if r.ServerCPU > 0 {
		fmt.Fprintf(w, "  server    %.3fs CPU: %.2f µs per offer (%.2f cores); per offer %.3f page faults, %.3f voluntary and %.3f involuntary context switches\n",
			r.ServerCPU.Seconds(), r.perMsg(r.ServerCPU), r.cores(r.ServerCPU), r.perOffer(r.Server.minflt), r.perOffer(r.Server.volCS), r.perOffer(r.Server.involCS))
	}
	fmt.Fprintf(w, "  sbload    %.2f µs per offer (%.2f cores); everything else %.2f cores\n", r.perMsg(r.ClientCPU), r.cores(r.ClientCPU), r.otherCores())
	fmt.Fprintf(w, "  latency   p50 %.3f ms  p99 %.3f ms  max %.3f ms (write to arrival, queueing in the burst included)\n",
		ms(r.Latency.P50), ms(r.Latency.P99), ms(r.Latency.Max))
	fmt.Fprintf(w, "  errors    %d\n", r.ErrorTotal)
	if r.Interrupted {
		fmt.Fprintln(w, "  interrupted: figures cover part of the run")
	}
}
