package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The hoard scenario is the replay-buffer attack of issue 18 against a
// running server: -pairs rooms each hold a sender and a hoarder; the
// sender writes -offers messages of -size bytes to its hoarder, which
// reads them but acknowledges nothing (its pongs carry no position), so
// the server keeps them for a resume. A healthy pair beside them sends
// probes at -rate per second for -duration. It reports the hoarders the
// server cut (close 1008 over_budget), the server's RSS (before, peak,
// end; -server-pid) and the healthy pair's one-way latency.

// hoardProbeRate is the healthy pair's probes per second without -rate.
const hoardProbeRate = 200

type hoardResult struct {
	Hoarders    int
	Offers      int // per hoarder
	Size        int
	Cut         int64 // hoarders closed with 1008 over_budget
	OtherEnds   int64 // hoarders that ended otherwise
	RSSBefore   int64
	RSSPeak     int64
	RSSEnd      int64
	Probes      int64
	Latency     latencies
	Errors      map[string]int
	ErrorTotal  int
	Interrupted bool
}

func runHoard(ctx context.Context, cfg *config, errs *errorLog, logf func(string, ...any)) (*hoardResult, error) {
	d := newDialer(4096, cfg.DialTimeout)
	res := &hoardResult{Hoarders: cfg.Pairs, Offers: cfg.Offers, Size: cfg.Size}
	var conns []*websocket.Conn
	defer func() {
		for _, ws := range conns {
			ws.Close()
		}
	}()
	join := func(room string) (*websocket.Conn, string, error) {
		ws, w, err := connect(ctx, d, cfg.URL, room, cfg.DialTimeout)
		if err == nil {
			conns = append(conns, ws)
		}
		return ws, w.Session, err
	}
	// The healthy pair.
	a, _, err := join("hoard-probe")
	if err != nil {
		return nil, err
	}
	b, bID, err := join("hoard-probe")
	if err != nil {
		return nil, err
	}
	if cfg.ServerPID > 0 {
		res.RSSBefore, _ = readRSS(cfg.ServerPID)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	var cut, other atomic.Int64
	var ending atomic.Bool // the run is over: ends are the tool's own
	type attacker struct {
		sender *websocket.Conn
		frame  []byte
		ponged chan struct{} // the server answered the sender's last ping
	}
	var hoarders []*websocket.Conn
	var readers sync.WaitGroup
	var attackers []attacker
	payload := strings.Repeat("x", max(0, cfg.Size-96))
	for i := range cfg.Pairs {
		room := "hoard-" + strconv.Itoa(i)
		s, _, err := join(room)
		if err != nil {
			errs.add("dial", err)
			continue
		}
		h, hID, err := join(room)
		if err != nil {
			errs.add("dial", err)
			continue
		}
		h.SetPingHandler(func(string) error { // acknowledges nothing
			return h.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
		})
		hoarders = append(hoarders, h)
		readers.Go(func() { // reads and drops until the server ends it
			for {
				_, r, err := h.NextReader()
				if err != nil {
					if websocket.IsCloseError(err, websocket.ClosePolicyViolation) && strings.Contains(err.Error(), "over_budget") {
						cut.Add(1)
					} else if !ending.Load() {
						other.Add(1)
					}
					return
				}
				_, _ = io.Copy(io.Discard, r)
			}
		})
		at := attacker{s, []byte(`{"type":"message","to":"` + hID + `","data":"` + payload + `"}`), make(chan struct{})}
		wg.Go(func() { drainUntilPong(s, at.ponged) }) // the sender answers pings too
		attackers = append(attackers, at)
	}
	logf("hoard: %d hoarders up, %d errors; %d messages of %d B each", len(attackers), errs.total(), cfg.Offers, cfg.Size)

	runCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	// The flood: every sender writes its share, round robin, then a ping:
	// its pong says the server relayed all of that sender's messages. The
	// run lasts until the flood is through, even past -duration (it is
	// bounded by -offers), so a slow machine cuts as many as a fast one.
	flooded := make(chan struct{})
	wg.Go(func() {
		defer close(flooded)
		for range cfg.Offers {
			for _, at := range attackers {
				if ctx.Err() != nil {
					return
				}
				if err := at.sender.WriteMessage(websocket.TextMessage, at.frame); err != nil {
					errs.add("write", err)
				}
			}
		}
		for _, at := range attackers {
			if err := at.sender.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
				errs.add("write", err)
				continue
			}
			select {
			case <-at.ponged:
			case <-ctx.Done():
				return
			}
		}
	})
	// The server's RSS, sampled while the probes run.
	probing := make(chan struct{})
	wg.Go(func() {
		if cfg.ServerPID <= 0 {
			return
		}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, err := readRSS(cfg.ServerPID); err == nil {
				res.RSSPeak = max(res.RSSPeak, rss)
			}
			select {
			case <-probing:
				return
			case <-tick.C:
			}
		}
	})
	// The healthy pair: a stamps, b reads like a page (JSON per frame).
	var hist histogram
	var probes atomic.Int64
	wg.Go(func() { drain(a) })
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			_, msg, err := b.ReadMessage()
			if err != nil {
				return
			}
			var f struct {
				Type string `json:"type"`
				Data string `json:"data"`
			}
			if json.Unmarshal(msg, &f) != nil || f.Type != "message" {
				continue
			}
			if sent, err := strconv.ParseInt(f.Data, 10, 64); err == nil {
				hist.record(time.Duration(now() - sent))
				probes.Add(1)
			}
		}
	}()
	rate := cfg.Rate
	if rate <= 0 {
		rate = hoardProbeRate
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	for runDone := runCtx.Done(); runDone != nil || flooded != nil; {
		select {
		case <-ctx.Done():
			runDone, flooded = nil, nil
		case <-runDone:
			runDone = nil
		case <-flooded:
			flooded = nil
		case <-tick.C:
			msg := `{"type":"message","to":"` + bID + `","data":"` + strconv.FormatInt(now(), 10) + `"}`
			if err := a.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				errs.add("probe", err)
			}
		}
	}
	tick.Stop()
	close(probing)
	res.Interrupted = ctx.Err() != nil
	ending.Store(true)
	if cfg.ServerPID > 0 {
		res.RSSEnd, _ = readRSS(cfg.ServerPID)
	}
	// Hoarders close with a handshake, so that a cut the server sent
	// before our close is still read and counted.
	for _, ws := range hoarders {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(closeWait))
	}
	readersDone := make(chan struct{})
	go func() { readers.Wait(); close(readersDone) }()
	select {
	case <-readersDone:
	case <-time.After(closeWait):
	}
	for _, ws := range conns {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(closeWait))
		ws.Close()
	}
	<-readersDone
	<-readDone
	wg.Wait()
	res.Cut, res.OtherEnds, res.Probes = cut.Load(), other.Load(), probes.Load()
	res.Latency = hist.summary()
	res.Errors, res.ErrorTotal = errs.counts(), errs.total()
	return res, nil
}

// drainUntilPong is drain for a sender: it closes ponged at the first pong.
func drainUntilPong(ws *websocket.Conn, ponged chan struct{}) {
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if ponged != nil && strings.Contains(string(msg), `"type":"pong"`) {
			close(ponged)
			ponged = nil
		}
	}
}

// drain reads and drops a connection's frames, so that pings are
// answered, until it ends.
func drain(ws *websocket.Conn) {
	for {
		if _, _, err := ws.NextReader(); err != nil {
			return
		}
	}
}

func (r *hoardResult) writeText(w io.Writer) {
	fmt.Fprintf(w, "hoard: %d hoarders of %d x %d B; cut with over_budget: %d (other ends: %d)\n", r.Hoarders, r.Offers, r.Size, r.Cut, r.OtherEnds)
	if r.RSSPeak > 0 {
		fmt.Fprintf(w, "server RSS: %.1f MiB before, %.1f MiB peak, %.1f MiB at the end\n", mib(r.RSSBefore), mib(r.RSSPeak), mib(r.RSSEnd))
	}
	fmt.Fprintf(w, "healthy pair: %d probes, p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", r.Probes, ms(r.Latency.P50), ms(r.Latency.P99), ms(r.Latency.Max))
	fmt.Fprintf(w, "errors: %d %v\n", r.ErrorTotal, r.Errors)
}

func (r *hoardResult) writeJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(map[string]any{
		"scenario": scenarioHoard, "hoarders": r.Hoarders, "offers": r.Offers, "size": r.Size,
		"cut": r.Cut, "other_ends": r.OtherEnds,
		"rss_before": r.RSSBefore, "rss_peak": r.RSSPeak, "rss_end": r.RSSEnd,
		"probes": r.Probes, "p50_ms": ms(r.Latency.P50), "p99_ms": ms(r.Latency.P99), "max_ms": ms(r.Latency.Max),
		"errors": r.ErrorTotal, "error_kinds": r.Errors, "interrupted": r.Interrupted,
	})
}
