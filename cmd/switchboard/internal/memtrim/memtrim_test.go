package memtrim

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestValidate(t *testing.T) {
	for _, c := range []Config{
		{Every: time.Millisecond},
		{Every: time.Second, QuietFor: time.Millisecond},
		{MinWasteRatio: -1},
		{QuietRatio: -1},
		{Every: time.Second, MinInterval: time.Millisecond},
	} {
		if _, err := New(c); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v, want ErrBadConfig", c, err)
		}
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Registerer: reg}); err == nil {
		t.Fatal("metrics registered twice without an error")
	}
}

func TestDecisions(t *testing.T) {
	var c Config
	c.setDefaults()
	const live = 64 << 20
	prev := heap{allocs: 1 << 30, live: live, objects: live}
	for _, tc := range []struct {
		name            string
		now             heap
		quiet, wasteful bool
	}{
		{"garbage after a burst", heap{allocs: prev.allocs, live: live, objects: live + live/2}, true, true},
		{"free pages kept resident", heap{allocs: prev.allocs + live/128, live: live, objects: live, free: live / 2}, true, true},
		{"busy: allocating", heap{allocs: prev.allocs + live/8, live: live, objects: live + live/2}, false, true},
		{"little waste for the heap", heap{allocs: prev.allocs, live: live, objects: live + live/8}, true, false},
		{"little waste in bytes", heap{allocs: prev.allocs, live: 1 << 20, objects: 2 << 20}, true, false},
		{"swept below the last mark", heap{allocs: prev.allocs, live: live, objects: live / 2}, true, false},
	} {
		if got := c.quiet(prev, tc.now); got != tc.quiet {
			t.Errorf("%s: quiet %v, want %v", tc.name, got, tc.quiet)
		}
		if got := c.wasteful(tc.now); got != tc.wasteful {
			t.Errorf("%s: wasteful %v, want %v", tc.name, got, tc.wasteful)
		}
	}
}

// TestRunTrims: a quiet process with garbage well over a quarter of its
// live heap is trimmed, its free pages go back to the kernel, and the
// next trim waits MinInterval. The collector is off throughout, so that
// the garbage stays garbage until a trim collects it.
func TestRunTrims(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	live := make([][]byte, 0, 256)
	for range cap(live) {
		live = append(live, make([]byte, 64<<10)) // 16 MiB kept
	}
	makeGarbage := func() {
		for range 1024 {
			sink = make([]byte, 32<<10) // 32 MiB
		}
		sink = nil
	}
	makeGarbage()
	released := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(released)
	before := released[0].Value.Uint64()

	logs := syncBuffer{wrote: make(chan struct{}, 1)}
	reg := prometheus.NewRegistry()
	const minInterval = 300 * time.Millisecond
	trimmer, err := New(Config{Every: 10 * time.Millisecond, QuietFor: 30 * time.Millisecond, MinInterval: minInterval,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- trimmer.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	}()

	logs.await(t, 1)
	metrics.Read(released)
	if got := released[0].Value.Uint64() - before; got < 16<<20 {
		t.Fatalf("%d bytes returned to the kernel, want the 32 MiB of garbage", got)
	}
	makeGarbage()
	times := logs.await(t, 2)
	if gap := times[1].Sub(times[0]); gap < minInterval-2*time.Millisecond { // log times are to the millisecond
		t.Fatalf("second trim %v after the first, MinInterval %v", gap, minInterval)
	}
	want := "# HELP switchboard_memory_trims_total Times the quiet server collected its garbage and returned free memory to the kernel (-memory-trim).\n" +
		"# TYPE switchboard_memory_trims_total counter\nswitchboard_memory_trims_total 2\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "switchboard_memory_trims_total"); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(live)
}

var sink []byte

// syncBuffer is a log that says when it was written to.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

var trimLine = regexp.MustCompile(`time=(\S+) level=DEBUG msg="returned garbage to the kernel"`)

// await waits up to 10 s for n trims in the log and returns their times.
func (s *syncBuffer) await(t *testing.T, n int) []time.Time {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		found := trimLine.FindAllStringSubmatch(s.b.String(), -1)
		s.mu.Unlock()
		if len(found) >= n {
			var times []time.Time
			for _, m := range found {
				at, err := time.Parse(time.RFC3339Nano, m[1])
				if err != nil {
					t.Fatal(err)
				}
				times = append(times, at)
			}
			return times
		}
		select {
		case <-s.wrote:
		case <-timeout:
			t.Fatalf("%d trims within 10s, want %d", len(found), n)
		}
	}
}
