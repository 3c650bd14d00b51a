package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

var offerPrefix = []byte(`{"type":"offer",`)

// phases are the relay run's timeline on the tool's clock: offers sent
// before warm or at/after end are left out of the latency figures, offers
// received outside [warm, end) out of the rate.
type phases struct {
	begin, warm, end int64
}

// relayer is one peer of a pair, over any transport. Its sender sends
// offers to the partner; its reader receives the partner's offers and
// gives the partner's window back.
type relayer interface {
	stats() *relayStats
	// send sends k offers stamped ts, in one write where the transport
	// allows.
	send(k int, ts int64) error
	// read receives until the channel ends, then closes stats().done.
	read(ph phases, errs *errorLog)
}

// relayStats is the part of a peer that does not depend on the transport:
// flow control and counts.
type relayStats struct {
	partner *relayStats
	window  int
	prefix  []byte // how a relayed offer starts: offerPrefix unless PeerJS
	// countdown, in the burst scenario, counts the offers still to come.
	countdown *countdown

	inflight atomic.Int64  // offers sent by this peer, not yet received
	wake     chan struct{} // the sender may refill its window
	sent     atomic.Int64
	recv     atomic.Int64 // partner's offers received
	closing  atomic.Bool  // this tool is ending the channel

	// Owned by the reader until done is closed.
	inWindow int64
	hist     histogram // send to read by this tool
	arrHist  histogram // send to arrival at this tool's socket
	done     chan struct{}
	// Owned by the sender until it returns.
	maxLag time.Duration
}

func newRelayStats(window int) relayStats {
	return relayStats{window: window, prefix: offerPrefix, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func pairUp(a, b *relayStats) { a.partner, b.partner = b, a }

// relayResult is what a relay run reports.
type relayResult struct {
	Transport  string
	Pairs      int
	Rate       float64 // asked for; 0 = flat out
	Window     int
	Size       int
	Measured   time.Duration
	Sent       int64
	Received   int64
	InWindow   int64 // offers received during Measured
	MsgsPerSec float64
	Latency    latencies // send to read by this tool's reader
	// Arrival is send to arrival at the receiving socket (kernel receive
	// timestamp, WebSocket on Linux; else the same as Latency): the
	// tool's own reader scheduling left out.
	Arrival     latencies
	MaxLag      time.Duration // paced mode: furthest a sender fell behind its schedule
	ClientCores float64       // this tool's CPU use during Measured, in cores
	ServerCores float64       // the server's, with -server-pid; else 0
	// MachineCores is all busy CPU on the machine (Linux), StealCores the
	// time the hypervisor gave to other guests; with ServerCores known,
	// MachineCores-ServerCores-ClientCores is other tenants' work and
	// kernel time charged to no process.
	MachineCores, StealCores float64
	Errors                   map[string]int
	ErrorTotal               int
	Interrupted              bool
}

// runRelay sets up the pairs, sends for warm-up plus duration, drains, and
// closes every connection before it returns.
func runRelay(ctx context.Context, cfg *config, errs *errorLog, logf func(string, ...any)) (*relayResult, error) {
	var peers []relayer
	var closeAll func()
	if cfg.Transport == transportWS {
		ws := setupPairs(ctx, cfg, errs)
		for _, p := range ws {
			peers = append(peers, p)
		}
		closeAll = func() { closeWS(ws) }
	} else {
		hp, err := setupHTTPPairs(ctx, cfg, errs)
		if err != nil {
			return nil, err
		}
		for _, p := range hp {
			peers = append(peers, p)
		}
		closeAll = func() { closeHTTP(hp) }
	}
	if len(peers) == 0 {
		return nil, errNoPeers
	}
	logf("relay over %s: %d pairs up, %d errors; warm-up %s, measuring %s", cfg.Transport, len(peers)/2, errs.total(), cfg.Warmup, cfg.Duration)

	begin := now()
	ph := phases{begin: begin, warm: begin + int64(cfg.Warmup), end: begin + int64(cfg.Warmup+cfg.Duration)}
	stop := make(chan struct{})
	var senders sync.WaitGroup
	for _, p := range peers {
		go p.read(ph, errs)
	}
	for j, p := range peers {
		if cfg.Rate > 0 {
			interval := time.Duration(float64(time.Second) * float64(len(peers)) / cfg.Rate)
			phase := interval * time.Duration(j) / time.Duration(len(peers))
			senders.Go(func() { sendPaced(p, ph, stop, interval, phase, cfg.Window, errs) })
		} else {
			senders.Go(func() { sendFlat(p, stop, errs) })
		}
	}
	var progress sync.WaitGroup
	if cfg.Progress {
		progress.Go(func() { relayProgress(peers, ph, stop, logf) })
	}

	// CPU use over the measured window: the tool's own, to show it is not
	// the bottleneck; the server's when its pid is known; the machine's,
	// so that a shared machine's noise shows in the report.
	interrupted := !sleepCtx(ctx, time.Duration(ph.warm-now()))
	cpu0, srv0 := selfCPU(), serverCPU(cfg, errs)
	mach0, machErr := machineCPU()
	interrupted = interrupted || !sleepCtx(ctx, time.Duration(ph.end-now()))
	cpu1, srv1 := selfCPU(), serverCPU(cfg, errs)
	mach1, _ := machineCPU()
	stopped := now()
	close(stop)
	senders.Wait()
	progress.Wait()

	var sent, recv int64
	count := func() {
		sent, recv = 0, 0
		for _, p := range peers {
			sent += p.stats().sent.Load()
			recv += p.stats().recv.Load()
		}
	}
	drainEnd := time.Now().Add(cfg.Drain)
	for count(); recv < sent && time.Now().Before(drainEnd) && ctx.Err() == nil; count() {
		time.Sleep(5 * time.Millisecond)
	}
	if lost := sent - recv; lost > 0 && !interrupted {
		errs.addN("lost", int(lost), fmt.Errorf("%d of %d offers not received within -drain %s", lost, sent, cfg.Drain))
	}
	closeAll()

	res := &relayResult{
		Transport: cfg.Transport, Pairs: len(peers) / 2, Rate: cfg.Rate, Window: cfg.Window, Size: cfg.Size,
		Sent: sent, Received: recv, Interrupted: interrupted,
	}
	var hist, arrHist histogram
	for _, p := range peers {
		s := p.stats()
		<-s.done
		res.InWindow += s.inWindow
		hist.merge(&s.hist)
		arrHist.merge(&s.arrHist)
		res.MaxLag = max(res.MaxLag, s.maxLag)
	}
	res.Measured = time.Duration(min(stopped, ph.end) - ph.warm)
	if res.Measured > 0 {
		res.MsgsPerSec = float64(res.InWindow) / res.Measured.Seconds()
		res.ClientCores = (cpu1 - cpu0).Seconds() / res.Measured.Seconds()
		if srv1 > 0 {
			res.ServerCores = (srv1 - srv0).Seconds() / res.Measured.Seconds()
		}
		if machErr == nil {
			res.MachineCores = (mach1.busy - mach0.busy).Seconds() / res.Measured.Seconds()
			res.StealCores = (mach1.steal - mach0.steal).Seconds() / res.Measured.Seconds()
		}
	} else {
		res.Measured = 0
	}
	res.Latency, res.Arrival = hist.summary(), arrHist.summary()
	res.Errors, res.ErrorTotal = errs.counts(), errs.total()
	return res, nil
}

// sendFlat keeps up to window offers in flight: it refills the window in
// one write once the partner has received half of it.
func sendFlat(p relayer, stop <-chan struct{}, errs *errorLog) {
	s := p.stats()
	window := s.window
	low := int64(window / 2)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n := s.inflight.Load()
		if n > low {
			select {
			case <-s.wake:
			case <-stop:
				return
			}
			continue
		}
		k := window - int(n)
		s.inflight.Add(int64(k))
		if err := p.send(k, now()); err != nil {
			errs.add("write", err)
			return
		}
		s.sent.Add(int64(k))
	}
}

// sendPaced sends one offer every interval, starting phase after begin.
// A sender woken late sends what is due, up to burst offers in one write,
// and records how late it was. Timestamps are taken at the write, so a
// late wake-up does not count as server latency.
func sendPaced(p relayer, ph phases, stop <-chan struct{}, interval, phase time.Duration, burst int, errs *errorLog) {
	s := p.stats()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	next := ph.begin + int64(phase)
	for {
		t := now()
		if d := next - t; d > 0 {
			timer.Reset(time.Duration(d))
			select {
			case <-timer.C:
			case <-stop:
				return
			}
			t = now()
		}
		if t >= ph.end {
			return
		}
		lag := time.Duration(max(0, t-next))
		if t >= ph.warm {
			s.maxLag = max(s.maxLag, lag)
		}
		k := min(1+int(lag/interval), burst)
		s.inflight.Add(int64(k))
		if err := p.send(k, t); err != nil {
			errs.add("write", err)
			return
		}
		s.sent.Add(int64(k))
		next += int64(k) * int64(interval)
	}
}

// received handles one message read at t that reached the socket at
// arrived (≤ t). Only relayed offers are fully handled: a prefix check,
// the timestamp digits, two histogram increments.
func (s *relayStats) received(msg []byte, t, arrived int64, ph phases, errs *errorLog) {
	if !bytes.HasPrefix(msg, s.prefix) {
		if code := serverError(msg); code != "" {
			errs.add("server:"+code, fmt.Errorf("%w: %.200s", errServer, msg))
		}
		return // peer-joined and other notices
	}
	ts, ok := parseStamp(msg)
	if !ok {
		errs.add("bad-frame", fmt.Errorf("%w: offer without timestamp: %.120s", errBadFrame, msg))
		return
	}
	partner := s.partner
	if partner.inflight.Add(-1) == int64(partner.window/2) {
		select {
		case partner.wake <- struct{}{}:
		default:
		}
	}
	s.recv.Add(1)
	if s.countdown != nil {
		s.countdown.done()
	}
	if t >= ph.warm && t < ph.end {
		s.inWindow++
	}
	if ts >= ph.warm && ts < ph.end {
		s.hist.record(time.Duration(t - ts))
		s.arrHist.record(time.Duration(max(arrived-ts, 0)))
	}
}

func serverCPU(cfg *config, errs *errorLog) time.Duration {
	if cfg.ServerPID == 0 {
		return 0
	}
	d, err := procCPU(cfg.ServerPID)
	if err != nil {
		errs.add("probe", err)
	}
	return d
}

func relayProgress(peers []relayer, ph phases, stop <-chan struct{}, logf func(string, ...any)) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last int64
	lastT := now()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		var recv int64
		for _, p := range peers {
			recv += p.stats().recv.Load()
		}
		t := now()
		stage := "measuring"
		if t < ph.warm {
			stage = "warm-up"
		}
		logf("relay: %5.1fs %-9s %9.0f msgs/s", time.Duration(t-ph.begin).Seconds(), stage,
			float64(recv-last)/time.Duration(t-lastT).Seconds())
		last, lastT = recv, t
	}
}
