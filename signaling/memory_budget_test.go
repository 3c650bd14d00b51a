package signaling

import (
	"fmt"
	"io"
	"runtime"
	rtmetrics "runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TestBufferBudgetCutsHoarders is the replay-buffer attack scaled to fit
// CI: 200 sessions each made to hold 1 MiB (a partner sends it, the
// hoarder reads but never acknowledges: its pongs carry no position)
// under a 64 MiB budget. The buffers stay within the budget, the hoarders
// holding the most are cut with 1008 over_budget, and a healthy pair
// beside them is never cut. The pair's latency is BenchmarkHoardAttack's
// figure: under the race detector it measures the detector.
func TestBufferBudgetCutsHoarders(t *testing.T) {
	r := hoardAttack(t)
	t.Logf("buffers: peak %d MiB, %d MiB at the end; heap: %d MiB before the flood, peak %d MiB over it, %d MiB live after; %d hoarders cut; healthy pair p50 %v p99 %v (p99 %v before the flood)",
		r.peakHeld>>20, r.held>>20, r.baseHeap>>20, (r.peakHeap-r.baseHeap)>>20, (r.liveHeap-r.baseHeap)>>20, r.cut, r.p50, r.p99, r.quietP99)
	if r.held > hoardBudget {
		t.Errorf("the buffers hold %d bytes at the end, over the budget of %d", r.held, hoardBudget)
	}
	// The cut runs as soon as an event passes the budget; what arrives
	// meanwhile is the overshoot: a few frames, not megabytes.
	if r.peakHeld > hoardBudget+8<<20 {
		t.Errorf("the buffers peaked at %d MiB, budget %d MiB", r.peakHeld>>20, hoardBudget>>20)
	}
	// What stays is the budget. What passes through is garbage, which the
	// collector lets grow to about the live heap again (GOGC=100) before
	// it runs: the peak is logged and BenchmarkHoardAttack's figure, not a
	// bound, since it moves with the collector's timing.
	if grown := r.liveHeap - r.baseHeap; grown > hoardBudget+16<<20 {
		t.Errorf("the live heap grew by %d MiB, budget %d MiB plus 16 MiB", grown>>20, hoardBudget>>20)
	}
	// A starvation bound only. The pair's latency under the flood is
	// BenchmarkHoardAttack's figure: under -race on a 2-core machine busy
	// with the other packages' tests it reached 115 ms in a full run (1 ms
	// before the flood), so a tighter bound here measures the machine, not
	// the budget. What the budget must prevent, the buffers
	// and the heap growing without bound, is checked above.
	if bound := max(time.Second, 8*r.quietP99); r.p99 > bound {
		t.Errorf("the healthy pair's p99 is %v (%v before the flood; bound %v)", r.p99, r.quietP99, bound)
	}
}

// BenchmarkHoardAttack measures the healthy pair's latency during the
// attack of TestBufferBudgetCutsHoarders (the target: p99 at most
// 5 ms): go test -run '^$' -bench HoardAttack -benchtime 1x ./signaling
func BenchmarkHoardAttack(b *testing.B) {
	for range b.N {
		r := hoardAttack(b)
		b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(r.peakHeld>>20), "peak-buffered-MiB")
		b.ReportMetric(float64((r.peakHeap-r.baseHeap)>>20), "peak-heap-growth-MiB")
		b.ReportMetric(float64(r.cut), "cut")
	}
}

const hoardBudget = 64 << 20

type hoardResult struct {
	held, peakHeld               int64
	baseHeap, peakHeap, liveHeap int64
	cut                          int
	p50, p99                     time.Duration
	quietP99                     time.Duration // the pair's before the flood
}

func hoardAttack(t testing.TB) hoardResult {
	const (
		budget   = hoardBudget
		hoarders = 200
		chunk    = 60 << 10
		perPair  = 18 // over 1 MiB: the hoarder's buffer stays full
	)
	srv, url := startServer(t, Config{
		MaxBufferedBytes: budget,
		ByteRate:         1 << 20, ByteBurst: 2 << 20, RateLimit: 1000, RateBurst: 1000,
		JoinRatePerAddr: 1e6, JoinBurstPerAddr: 1e6,
	})

	// The healthy pair first: it must never be cut.
	alice, bob := dial(t, url, nil), dial(t, url, nil)
	alice.join("healthy")
	bob.join("healthy")
	alice.expect("peer-joined")
	quiet := probeLatency(t, alice, bob, 100, 5*time.Millisecond)

	// The attackers: pairs of a sender and a hoarder, each pair in a room.
	cuts := make(chan struct{}, hoarders)
	senders := make([]*client, hoarders)
	msgs := make([][]byte, hoarders)
	for i := range hoarders {
		s, h := dial(t, url, nil), dial(t, url, nil)
		room := fmt.Sprintf("hoard-%d", i)
		s.join(room)
		h.join(room)
		s.expect("peer-joined")
		senders[i] = s
		msgs[i] = []byte(`{"type":"message","to":"` + h.id + `","data":"` + strings.Repeat("x", chunk) + `"}`)
		// Pongs without a position acknowledge nothing.
		h.ws.SetPingHandler(func(string) error {
			return h.ws.WriteControl(websocket.PongMessage, nil, time.Now().Add(waitFor))
		})
		_ = h.ws.SetReadDeadline(time.Time{})
		go func() { // reads and drops until the server cuts it or the test ends
			for {
				_, r, err := h.ws.NextReader()
				if err != nil {
					if websocket.IsCloseError(err, websocket.ClosePolicyViolation) && strings.Contains(err.Error(), wire.CodeOverBudget) {
						cuts <- struct{}{}
					}
					return
				}
				_, _ = io.Copy(io.Discard, r)
			}
		}()
	}

	// Watch what the buffers and the heap hold from here on.
	runtime.GC()
	baseHeap := heapObjects()
	stopWatch := make(chan struct{})
	var peakHeld, peakHeap atomic.Int64
	var watched sync.WaitGroup
	watched.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			peakHeld.Store(max(peakHeld.Load(), srv.engine.Held()))
			peakHeap.Store(max(peakHeap.Load(), heapObjects()))
			select {
			case <-stopWatch:
				return
			case <-tick.C:
			}
		}
	})

	// The flood, at 20 MB/s in all, while the healthy pair talks: Alice
	// stamps, Bob reads and acknowledges as a client does (gorilla answers
	// pings with their payload). The rate is the attackers' to choose;
	// this one leaves the CPU of a race-detector build on a 2-core
	// machine to the pair, so that what is measured is what the hoarded
	// memory does to it.
	var flood sync.WaitGroup
	flood.Go(func() {
		tick := time.NewTicker(3 * time.Millisecond)
		defer tick.Stop()
		for range perPair {
			for i, s := range senders {
				<-tick.C
				if err := s.ws.WriteMessage(websocket.TextMessage, msgs[i]); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	lat := probeLatency(t, alice, bob, 400, 25*time.Millisecond)
	flood.Wait()
	// Every sender's frames are in once its ping is answered.
	for _, s := range senders {
		s.send(frame{"type": "ping", "id": 1})
	}
	for _, s := range senders {
		for f := s.read(); f.str("type") != "pong"; f = s.read() {
		}
	}
	close(stopWatch)
	watched.Wait()

	// At most the budget's worth of 1 MiB hoarders can stay.
	want, n := hoarders-budget>>20, 0
	deadline := time.After(waitFor)
	for n < want {
		select {
		case <-cuts:
			n++
		case <-deadline:
			t.Fatalf("%d hoarders cut with over_budget, want at least %d", n, want)
		}
	}
	runtime.GC()
	r := hoardResult{held: srv.engine.Held(), peakHeld: peakHeld.Load(), baseHeap: baseHeap,
		peakHeap: peakHeap.Load(), liveHeap: heapObjects(), cut: n,
		p50: lat[len(lat)/2], p99: lat[len(lat)*99/100], quietP99: quiet[len(quiet)*99/100]}
	alice.alive()
	bob.alive()
	return r
}

// probeLatency has a send n messages to b, one every gap, each stamped
// with its send time, and returns b's one-way latencies, sorted.
func probeLatency(t testing.TB, a, b *client, n int, gap time.Duration) []time.Duration {
	t.Helper()
	got := make(chan time.Duration, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			f := b.read()
			for f.str("type") != "message" {
				f = b.read()
			}
			sent, _ := strconv.ParseInt(f.str("data"), 10, 64)
			got <- time.Duration(time.Now().UnixNano() - sent)
		}
	}()
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for range n {
		<-tick.C
		a.send(frame{"type": "message", "to": b.id, "data": strconv.FormatInt(time.Now().UnixNano(), 10)})
	}
	<-done
	lat := make([]time.Duration, 0, n)
	for range n {
		lat = append(lat, <-got)
	}
	slices.Sort(lat)
	return lat
}

func heapObjects() int64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	return int64(s[0].Value.Uint64())
}
