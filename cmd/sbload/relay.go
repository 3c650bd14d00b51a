package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// relayReadBuffer is large so that one read syscall picks up several
// relayed offers when they queue up.
const relayReadBuffer = 16 << 10

var offerPrefix = []byte(`{"type":"offer",`)

// phases are the relay run's timeline on the tool's clock: offers sent
// before warm or at/after end are left out of the latency figures, offers
// received outside [warm, end) out of the rate.
type phases struct {
	begin, warm, end int64
}

// relayPeer is one connection of a pair. Its sender sends offers to the
// partner; its reader receives the partner's offers and gives the
// partner's window back.
type relayPeer struct {
	ws      *websocket.Conn
	w       *rawWriter
	id      string
	partner *relayPeer
	offers  *offerBatch
	window  int

	inflight  atomic.Int64  // offers sent by this peer, not yet received
	wake      chan struct{} // the sender may refill its window
	sent      atomic.Int64
	recv      atomic.Int64 // partner's offers received
	closing   atomic.Bool  // this tool is ending the connection
	closeSent atomic.Bool  // a close frame has been written

	// Owned by the reader until done is closed.
	inWindow int64
	hist     histogram
	done     chan struct{}
	// Owned by the sender until it returns.
	maxLag time.Duration
}

// relayResult is what a relay run reports.
type relayResult struct {
	Pairs       int
	Rate        float64 // asked for; 0 = flat out
	Window      int
	Size        int
	Measured    time.Duration
	Sent        int64
	Received    int64
	InWindow    int64 // offers received during Measured
	MsgsPerSec  float64
	Latency     latencies
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
	peers := setupPairs(ctx, cfg, errs)
	if len(peers) == 0 {
		return nil, errNoPeers
	}
	logf("relay: %d pairs up, %d errors; warm-up %s, measuring %s", len(peers)/2, errs.total(), cfg.Warmup, cfg.Duration)

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
			senders.Go(func() { p.sendPaced(ph, stop, interval, phase, cfg.Window, errs) })
		} else {
			senders.Go(func() { p.sendFlat(stop, errs) })
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
			sent += p.sent.Load()
			recv += p.recv.Load()
		}
	}
	drainEnd := time.Now().Add(cfg.Drain)
	for count(); recv < sent && time.Now().Before(drainEnd) && ctx.Err() == nil; count() {
		time.Sleep(5 * time.Millisecond)
	}
	if lost := sent - recv; lost > 0 && !interrupted {
		errs.addN("lost", int(lost), fmt.Errorf("%d of %d offers not received within -drain %s", lost, sent, cfg.Drain))
	}
	closeAll(peers)

	res := &relayResult{
		Pairs: len(peers) / 2, Rate: cfg.Rate, Window: cfg.Window, Size: cfg.Size,
		Sent: sent, Received: recv, Interrupted: interrupted,
	}
	var hist histogram
	for _, p := range peers {
		<-p.done
		res.InWindow += p.inWindow
		hist.merge(&p.hist)
		res.MaxLag = max(res.MaxLag, p.maxLag)
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
	res.Latency = hist.summary()
	res.Errors, res.ErrorTotal = errs.counts(), errs.total()
	return res, nil
}

// setupPairs connects and joins the pairs; a pair that fails is counted
// and left out. It returns the peers with partners next to each other.
func setupPairs(ctx context.Context, cfg *config, errs *errorLog) []*relayPeer {
	d := newDialer(relayReadBuffer, cfg.DialTimeout)
	pairs := make([][2]*relayPeer, cfg.Pairs)
	forEach(ctx, cfg.Pairs, max(1, cfg.DialConcurrency/2), func(i int) {
		room := "relay-" + strconv.Itoa(i)
		var pair [2]*relayPeer
		for k := range pair {
			ws, id, err := connect(ctx, d, cfg.URL, room, cfg.DialTimeout)
			if err != nil {
				errs.add("setup", err)
				for _, p := range pair[:k] {
					p.ws.Close()
				}
				return
			}
			pair[k] = &relayPeer{ws: ws, w: newRawWriter(ws.NetConn()), id: id, window: cfg.Window,
				wake: make(chan struct{}, 1), done: make(chan struct{})}
		}
		a, b := pair[0], pair[1]
		a.partner, b.partner = b, a
		a.offers = newOfferBatch(b.id, cfg.Size, cfg.Window, a.w.key)
		b.offers = newOfferBatch(a.id, cfg.Size, cfg.Window, b.w.key)
		for _, p := range pair {
			p.ws.SetPingHandler(func(data string) error {
				_ = p.w.control(opPong, []byte(data))
				return nil
			})
			p.ws.SetCloseHandler(func(code int, text string) error {
				if !p.closing.Load() {
					errs.add("closed", fmt.Errorf("server closed the connection: %d %s", code, text))
				}
				if !p.closeSent.Swap(true) {
					_ = p.w.control(opClose, websocket.FormatCloseMessage(code, ""))
				}
				return nil
			})
		}
		pairs[i] = pair
	})
	var peers []*relayPeer
	for _, pair := range pairs {
		if pair[0] != nil {
			peers = append(peers, pair[0], pair[1])
		}
	}
	return peers
}

// sendFlat keeps up to window offers in flight: it refills the window in
// one write once the partner has received half of it.
func (p *relayPeer) sendFlat(stop <-chan struct{}, errs *errorLog) {
	window := p.window
	low := int64(window / 2)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n := p.inflight.Load()
		if n > low {
			select {
			case <-p.wake:
			case <-stop:
				return
			}
			continue
		}
		k := window - int(n)
		p.inflight.Add(int64(k))
		if err := p.w.write(p.offers.stamp(k, now())); err != nil {
			errs.add("write", err)
			return
		}
		p.sent.Add(int64(k))
	}
}

// sendPaced sends one offer every interval, starting phase after begin.
// A sender woken late sends what is due, up to burst offers in one write,
// and records how late it was. Timestamps are taken at the write, so a
// late wake-up does not count as server latency.
func (p *relayPeer) sendPaced(ph phases, stop <-chan struct{}, interval, phase time.Duration, burst int, errs *errorLog) {
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
			p.maxLag = max(p.maxLag, lag)
		}
		k := min(1+int(lag/interval), burst)
		p.inflight.Add(int64(k))
		if err := p.w.write(p.offers.stamp(k, t)); err != nil {
			errs.add("write", err)
			return
		}
		p.sent.Add(int64(k))
		next += int64(k) * int64(interval)
	}
}

// read receives until the connection ends. Only relayed offers are fully
// handled: a prefix check, the timestamp digits, a histogram increment.
func (p *relayPeer) read(ph phases, errs *errorLog) {
	defer close(p.done)
	buf := make([]byte, 0, 4096)
	partner := p.partner
	low := int64(partner.window / 2)
	for {
		_, r, err := p.ws.NextReader()
		if err != nil {
			p.readEnded(err, errs)
			return
		}
		if buf, err = readFrame(r, buf); err != nil {
			p.readEnded(err, errs)
			return
		}
		t := now()
		if !bytes.HasPrefix(buf, offerPrefix) {
			if code := serverError(buf); code != "" {
				errs.add("server:"+code, fmt.Errorf("%w: %.200s", errServer, buf))
			}
			continue // peer-joined and other notices
		}
		ts, ok := parseStamp(buf)
		if !ok {
			errs.add("bad-frame", fmt.Errorf("%w: offer without timestamp: %.120s", errBadFrame, buf))
			continue
		}
		if partner.inflight.Add(-1) == low {
			select {
			case partner.wake <- struct{}{}:
			default:
			}
		}
		p.recv.Add(1)
		if t >= ph.warm && t < ph.end {
			p.inWindow++
		}
		if ts >= ph.warm && ts < ph.end {
			p.hist.record(time.Duration(t - ts))
		}
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

// readEnded counts a read error unless this tool was closing the
// connection; a close frame from the server was counted by the close
// handler.
func (p *relayPeer) readEnded(err error, errs *errorLog) {
	var ce *websocket.CloseError
	if p.closing.Load() || errors.As(err, &ce) {
		return
	}
	errs.add("read", err)
}

// closeAll runs the closing handshake on every peer that has not had it,
// waits for the readers a bounded time, then drops the sockets.
func closeAll(peers []*relayPeer) {
	for _, p := range peers {
		p.closing.Store(true)
		if !p.closeSent.Swap(true) {
			_ = p.ws.NetConn().SetWriteDeadline(time.Now().Add(closeWait))
			_ = p.w.control(opClose, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		}
	}
	deadline := time.NewTimer(closeWait)
	defer deadline.Stop()
	for _, p := range peers {
		select {
		case <-p.done:
		case <-deadline.C:
			for _, p := range peers {
				p.ws.Close()
			}
			return
		}
	}
	for _, p := range peers {
		p.ws.Close()
	}
}

func relayProgress(peers []*relayPeer, ph phases, stop <-chan struct{}, logf func(string, ...any)) {
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
			recv += p.recv.Load()
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
