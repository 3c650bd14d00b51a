package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRestartGap restarts a node on its state file once per
// iteration while a prober asks GET /healthz on a new connection every
// millisecond, and reports the medians of: refusing-ms, the time from the
// first refused connection to the last (the port had no listener), gap-ms,
// from the first refused connection to the next answer (0 when none was
// refused), refused, how many were, and wait-ms, the longest an answered probe
// took (a connection queued for the next process), and failed-total,
// probes that failed otherwise in all iterations (a reset: a connection
// left in the queue of a listener that closed). "sequential" stops
// the old process and then starts the next, as systemd's restart does;
// "overlap" starts the next first, which binds the port beside the old
// one (SO_REUSEPORT) and waits for its state file. Each runs with no
// session and with 10,000 idle ones (made by a poll each, then detached),
// which every restart keeps and restores.
//
//	go test ./cmd/switchboard -run '^$' -bench RestartGap -benchtime 10x
func BenchmarkRestartGap(b *testing.B) {
	for _, sessions := range []int{0, 10_000} {
		for _, overlap := range []bool{false, true} {
			name := "sequential"
			if overlap {
				name = "overlap"
			}
			b.Run(fmt.Sprintf("%s/sessions=%d", name, sessions), func(b *testing.B) { benchRestartGap(b, overlap, sessions) })
		}
	}
}

func benchRestartGap(b *testing.B, overlap bool, sessions int) {
	stateFile := filepath.Join(b.TempDir(), "state")
	args := []string{"-resume-grace", "10m", "-max-sessions", "20000", "-max-sessions-per-ip", "20000", "-log-level", "info"}
	node := startNode(b, "127.0.0.1:0", stateFile, "switchboard started", args...)
	addr := httpAddrInLog.FindStringSubmatch(node.waitLogged(b))[1]
	makeSessions(b, addr, sessions)
	var gaps, refusings, refusals, waits []float64
	failures := 0
	for b.Loop() {
		p := startProbe(addr)
		var next *nodeProcess
		if overlap {
			next = startNode(b, addr, stateFile, "waiting for the switchboard on this state file", args...)
		}
		node.stop(b)
		if !overlap {
			next = startNode(b, addr, stateFile, "switchboard started", args...)
		}
		gap, refusing, refused, failed, wait := p.stopAfterAnswer(b)
		gaps, refusals, waits = append(gaps, gap), append(refusals, float64(refused)), append(waits, wait)
		refusings = append(refusings, refusing)
		failures += failed
		if line := next.logLine(b, "sessions restored|switchboard started"); sessions > 0 && !strings.Contains(line, fmt.Sprintf("sessions=%d", sessions)) {
			b.Fatalf("restored: %s", line)
		}
		node = next
	}
	b.ReportMetric(median(gaps), "gap-ms")
	b.ReportMetric(median(refusings), "refusing-ms")
	b.ReportMetric(median(refusals), "refused")
	b.ReportMetric(median(waits), "wait-ms")
	b.ReportMetric(float64(failures), "failed-total")
}

// makeSessions starts n sessions at addr, each with a poll that returns
// its welcome: they wait detached for a resume, as after a network drop.
func makeSessions(b *testing.B, addr string, n int) {
	b.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range n {
		resp, err := client.Get("http://" + addr + "/v1/poll")
		if err != nil {
			b.Fatalf("session %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("session %d: status %d", i, resp.StatusCode)
		}
	}
	client.CloseIdleConnections()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// probe asks addr's /healthz on a new connection every millisecond.
type probe struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu           sync.Mutex
	firstRefused time.Time // since the last answer
	gap          time.Duration
	refusing     time.Duration // from the first refusal to the last: the port had no listener
	refused      int
	failed       int // other errors: a connection reset in a closed listener's queue
	longest      time.Duration
	answered     chan struct{} // set by stopAfterAnswer, closed at the next answer
}

func startProbe(addr string) *probe {
	ctx, cancel := context.WithCancel(context.Background())
	p := &probe{cancel: cancel, done: make(chan struct{})}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for n := 0; n < 600_000; n++ { // ten minutes at most
			start := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
			resp, err := client.Do(req)
			took := time.Since(start)
			p.mu.Lock()
			switch {
			case err == nil:
				resp.Body.Close()
				if !p.firstRefused.IsZero() {
					p.gap += time.Since(p.firstRefused)
					p.firstRefused = time.Time{}
				}
				if p.answered != nil {
					close(p.answered)
					p.answered = nil
				}
				p.longest = max(p.longest, took)
			case errors.Is(err, syscall.ECONNREFUSED):
				p.refused++
				if p.firstRefused.IsZero() {
					p.firstRefused = start
				}
				p.refusing = max(p.refusing, time.Since(p.firstRefused))
			case ctx.Err() == nil:
				p.failed++
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// stopAfterAnswer waits for an answer from the next process (one that
// began after the old one stopped), then stops the probe and reports.
func (p *probe) stopAfterAnswer(b testing.TB) (gapMS, refusingMS float64, refused, failed int, longestMS float64) {
	b.Helper()
	answered := make(chan struct{})
	p.mu.Lock()
	p.answered = answered
	p.mu.Unlock()
	select {
	case <-answered:
	case <-time.After(e2eTimeout):
		b.Fatal("the next process did not answer")
	}
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return ms(p.gap), ms(p.refusing), p.refused, p.failed, ms(p.longest)
}

func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
