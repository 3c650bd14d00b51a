package memtrim

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
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
		{MinWasteRatio: -1},
		{QuietRatio: -1},
		{Every: time.Second, MinInterval: time.Millisecond},
	} {
		if err := Run(context.Background(), c); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v, want ErrBadConfig", c, err)
		}
	}
}

func TestDue(t *testing.T) {
	var c Config
	c.setDefaults()
	const live = 64 << 20
	prev := heap{allocs: 1 << 30, live: live, objects: live}
	for _, tc := range []struct {
		name string
		now  heap
		want bool
	}{
		{"garbage after a burst", heap{allocs: prev.allocs, live: live, objects: live + live/2}, true},
		{"free pages kept resident", heap{allocs: prev.allocs, live: live, objects: live, free: live / 2}, true},
		{"busy: allocating", heap{allocs: prev.allocs + live/8, live: live, objects: live + live/2}, false},
		{"little waste for the heap", heap{allocs: prev.allocs, live: live, objects: live + live/8}, false},
		{"little waste in bytes", heap{allocs: prev.allocs, live: 1 << 20, objects: 2 << 20}, false},
		{"swept below the last mark", heap{allocs: prev.allocs, live: live, objects: live / 2}, false},
	} {
		if got := c.due(prev, tc.now); got != tc.want {
			t.Errorf("%s: due %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRunTrims: a quiet process with garbage well over a quarter of its
// live heap is trimmed, and its free pages go back to the kernel.
func TestRunTrims(t *testing.T) {
	live := make([][]byte, 0, 256)
	for range cap(live) {
		live = append(live, make([]byte, 64<<10)) // 16 MiB kept
	}
	runtime.GC()
	for range 1024 {
		sink = make([]byte, 32<<10) // 32 MiB of garbage
	}
	sink = nil

	logs := syncBuffer{wrote: make(chan struct{}, 1)}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Every: 20 * time.Millisecond, MinInterval: time.Minute, Logger: log, Registerer: reg})
	}()
	timeout := time.After(10 * time.Second)
	for !strings.Contains(logs.String(), "returned garbage") {
		select {
		case <-logs.wrote:
		case <-timeout:
			cancel()
			<-done
			t.Fatalf("no trim within 10s; log:\n%s", logs.String())
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if n := strings.Count(logs.String(), "returned garbage"); n != 1 {
		t.Fatalf("%d trims within MinInterval", n)
	}
	want := "# HELP switchboard_memory_trims_total Times the quiet server collected its garbage and returned free memory to the kernel (-memory-trim).\n" +
		"# TYPE switchboard_memory_trims_total counter\nswitchboard_memory_trims_total 1\n"
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

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
