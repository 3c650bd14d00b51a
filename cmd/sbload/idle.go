package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// idleReadBuffer (WebSocket) is small: an idle connection only ever reads its welcome,
// joined, peer-joined and the server's pings.
const idleReadBuffer = 1024

// idleSampleEvery is how often the server's RSS is sampled during the hold.
const idleSampleEvery = 500 * time.Millisecond

// idleConn is one held session over any transport.
type idleConn interface {
	// startClose begins an orderly close; the reader then ends.
	startClose(deadline time.Time)
	// forceClose drops the connections.
	forceClose()
	// ended is closed when the reader has returned.
	ended() <-chan struct{}
	// requests is how many channel requests (polls, stream reopens) the
	// session made; 0 on WebSocket. Read it once ended is closed.
	requests() int
}

type wsIdleConn struct {
	ws      *websocket.Conn
	closing atomic.Bool
	done    chan struct{}
}

func (c *wsIdleConn) startClose(deadline time.Time) {
	c.closing.Store(true)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, deadline)
}

func (c *wsIdleConn) forceClose()            { c.ws.Close() }
func (c *wsIdleConn) ended() <-chan struct{} { return c.done }
func (c *wsIdleConn) requests() int          { return 0 }

// idleResult is what an idle run reports.
type idleResult struct {
	Transport   string
	Conns       int // asked for
	Connected   int
	ConnectTime time.Duration // first dial to last joined
	ConnectRate float64       // connections/s
	Connect     latencies     // one connection's dial, welcome and join
	Held        time.Duration
	Dropped     int // connections the server ended during the hold
	// Requests is the channel requests per session over the whole run
	// (SSE: streams opened; poll: polls); 0 on WebSocket. An idle poll
	// session should make about 3 plus one per PollWait.
	Requests float64

	// Server samples: before the first dial, Settle after the last
	// connect, and at the end of the hold; PeakRSS is the largest RSS seen
	// during the hold.
	Before, Settled, End serverSample
	PeakRSS              int64

	Errors      map[string]int
	ErrorTotal  int
	Interrupted bool
}

// bytesPerConn is the growth of a server figure from Before to s, per
// connection; 0 when unknown.
func (r *idleResult) bytesPerConn(before, after float64) float64 {
	if r.Connected == 0 || before == 0 || after == 0 {
		return 0
	}
	return (after - before) / float64(r.Connected)
}

// runIdle opens the connections, holds them for cfg.Duration while
// sampling the server, and closes them before it returns.
func runIdle(ctx context.Context, cfg *config, errs *errorLog, logf func(string, ...any)) (*idleResult, error) {
	res := &idleResult{Transport: cfg.Transport, Conns: cfg.Conns}
	res.Before = sampleServer(ctx, cfg, errs)

	d := newDialer(idleReadBuffer, cfg.DialTimeout)
	if cfg.Sources > 0 {
		d.NetDialContext = sourceDialer(cfg.Sources, cfg.DialTimeout)
	}
	base := baseURL(cfg)
	conns := make([]idleConn, cfg.Conns)
	var connected atomic.Int64
	var histMu sync.Mutex
	var hist histogram
	stopProgress := make(chan struct{})
	var progress sync.WaitGroup
	if cfg.Progress {
		progress.Go(func() { idleProgress(&connected, cfg.Conns, stopProgress, logf) })
	}

	start := time.Now()
	forEach(ctx, cfg.Conns, cfg.DialConcurrency, func(i int) {
		room := ""
		if cfg.Rooms == roomsPairs {
			room = "idle-" + strconv.Itoa(i/2)
		}
		t := time.Now()
		var c idleConn
		if cfg.Transport == transportWS {
			ws, _, err := connect(ctx, d, cfg.URL, room, cfg.DialTimeout)
			if err != nil {
				errs.add("setup", err)
				return
			}
			wc := &wsIdleConn{ws: ws, done: make(chan struct{})}
			go wc.read(errs)
			c = wc
		} else {
			sess, err := newHTTPSession(ctx, base, cfg.Transport, room, cfg.DialTimeout)
			if err != nil {
				errs.add("setup", err)
				return
			}
			// An idle page holds its event channel only; the browser
			// drops an idle keep-alive upstream connection.
			sess.dropUp()
			hc := &httpIdleConn{ctx: ctx, sess: sess, done: make(chan struct{})}
			go hc.read(errs)
			c = hc
		}
		took := time.Since(t)
		conns[i] = c
		connected.Add(1)
		histMu.Lock()
		hist.record(took)
		histMu.Unlock()
	})
	res.ConnectTime = time.Since(start)
	close(stopProgress)
	progress.Wait()

	live := conns[:0]
	for _, c := range conns {
		if c != nil {
			live = append(live, c)
		}
	}
	res.Connected = len(live)
	res.ConnectRate = float64(res.Connected) / res.ConnectTime.Seconds()
	res.Connect = hist.summary()
	logf("idle: %d/%d connected in %.1fs (%.0f/s); holding %s", res.Connected, cfg.Conns,
		res.ConnectTime.Seconds(), res.ConnectRate, cfg.Duration)

	holdStart := time.Now()
	settled := false
	tick := time.NewTicker(idleSampleEvery)
	defer tick.Stop()
hold:
	for time.Since(holdStart) < cfg.Duration {
		select {
		case <-ctx.Done():
			res.Interrupted = true
			break hold
		case <-tick.C:
		}
		if !settled && time.Since(holdStart) >= cfg.Settle {
			settled = true
			res.Settled = sampleServer(ctx, cfg, errs)
			res.PeakRSS = max(res.PeakRSS, res.Settled.RSS)
			continue
		}
		if cfg.ServerPID > 0 {
			if rss, err := readRSS(cfg.ServerPID); err == nil {
				res.PeakRSS = max(res.PeakRSS, rss)
			}
		}
	}
	res.Held = time.Since(holdStart)
	if !res.Interrupted {
		res.End = sampleServer(ctx, cfg, errs)
		res.PeakRSS = max(res.PeakRSS, res.End.RSS)
		if !settled {
			res.Settled = res.End
		}
	}
	res.Errors, res.ErrorTotal = errs.counts(), errs.total()
	res.Dropped = res.Errors["dropped"]
	closeIdle(live)
	if res.Connected > 0 {
		n := 0
		for _, c := range live {
			n += c.requests()
		}
		res.Requests = float64(n) / float64(res.Connected)
	}
	return res, nil
}

// read consumes the server's frames so that pings are answered (gorilla's
// default ping handler) and notices when the server drops the connection.
func (c *wsIdleConn) read(errs *errorLog) {
	defer close(c.done)
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			if !c.closing.Load() {
				errs.add("dropped", fmt.Errorf("server ended an idle connection: %w", err))
			}
			return
		}
	}
}

// sourceDialer dials from 127.0.0.2 to 127.0.0.(n+1) in turn.
func sourceDialer(n int, timeout time.Duration) func(context.Context, string, string) (net.Conn, error) {
	var next atomic.Uint32
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		src := net.IPv4(127, 0, 0, byte(2+int(next.Add(1)-1)%n))
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: src}}
		return d.DialContext(ctx, network, addr)
	}
}

// closeIdle starts closing every connection, waits a bounded time for
// the readers to end, then drops the connections.
func closeIdle(conns []idleConn) {
	deadline := time.Now().Add(closeWait)
	for _, c := range conns {
		c.startClose(deadline)
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
wait:
	for _, c := range conns {
		select {
		case <-c.ended():
		case <-timer.C:
			break wait
		}
	}
	for _, c := range conns {
		c.forceClose()
	}
	for _, c := range conns {
		<-c.ended()
	}
}

func idleProgress(connected *atomic.Int64, total int, stop <-chan struct{}, logf func(string, ...any)) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			logf("idle: %d/%d connected", connected.Load(), total)
		}
	}
}
