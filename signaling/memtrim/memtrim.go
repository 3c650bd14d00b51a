// Package memtrim gives a quiet server's garbage back to the kernel.
//
// A signaling node takes connections in bursts (a deploy, a reconnect
// storm) and then holds them idle. Each connect leaves garbage (net/http's
// request and hijacked buffers, about 15 KB), so at the end of a burst the
// heap holds up to as much garbage as live data, GOGC=100's headroom. An
// idle node allocates too little to start another collection, so that
// memory stays resident until the runtime's forced collection two minutes
// later, and even then the scavenger keeps what the heap goal allows. Run
// collects once the node has gone quiet with a good deal of garbage and
// returns the free pages at once: its RSS is then about the live heap.
package memtrim

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config says when to trim. The zero value takes the defaults.
type Config struct {
	// Every is how often the heap is looked at: 1 s by default.
	Every time.Duration
	// MinWaste is the least waste (garbage, and free pages still
	// resident) worth a trim, in bytes, and as a share of the live heap
	// (MinWasteRatio): 4 MiB and 0.25 by default.
	MinWaste      uint64
	MinWasteRatio float64
	// QuietRatio bounds what was allocated during the last Every, as a
	// share of the live heap, for the node to count as quiet: a busy node
	// collects by itself. 1/64 by default.
	QuietRatio float64
	// MinInterval is the least time between two trims: 30 s by default.
	// A trim costs a full collection and the page faults that take the
	// memory back.
	MinInterval time.Duration
	Logger      *slog.Logger // slog.Default() when nil
	// Registerer, when set, gets switchboard_memory_trims_total and
	// switchboard_memory_trimmed_bytes_total.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.Every == 0 {
		c.Every = time.Second
	}
	if c.MinWaste == 0 {
		c.MinWaste = 4 << 20
	}
	if c.MinWasteRatio == 0 {
		c.MinWasteRatio = 0.25
	}
	if c.QuietRatio == 0 {
		c.QuietRatio = 1.0 / 64
	}
	if c.MinInterval == 0 {
		c.MinInterval = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	switch {
	case c.Every < 10*time.Millisecond:
		return fmt.Errorf("%w: Every %v is under 10ms", ErrBadConfig, c.Every)
	case c.MinWasteRatio < 0 || c.QuietRatio < 0:
		return fmt.Errorf("%w: negative ratio", ErrBadConfig)
	case c.MinInterval < c.Every:
		return fmt.Errorf("%w: MinInterval %v is under Every %v", ErrBadConfig, c.MinInterval, c.Every)
	}
	return nil
}

// The runtime's figures Run reads.
const (
	allocsMetric  = "/gc/heap/allocs:bytes"              // allocated since start
	liveMetric    = "/gc/heap/live:bytes"                // marked live by the last collection
	objectsMetric = "/memory/classes/heap/objects:bytes" // live plus garbage not yet swept
	freeMetric    = "/memory/classes/heap/free:bytes"    // free pages still resident
)

// heap is one reading of the runtime's figures.
type heap struct{ allocs, live, objects, free uint64 }

func read(s []metrics.Sample) heap {
	metrics.Read(s)
	return heap{s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64(), s[3].Value.Uint64()}
}

// waste is what a trim would give back: garbage, and free pages the
// scavenger keeps resident because the heap's goal allows them.
func (h heap) waste() uint64 {
	return h.objects - min(h.live, h.objects) + h.free
}

// Run trims until ctx ends; it returns ctx's error, or a config error at
// once.
func Run(ctx context.Context, cfg Config) error {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	s := []metrics.Sample{{Name: allocsMetric}, {Name: liveMetric}, {Name: objectsMetric}, {Name: freeMetric}}
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	trims := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_memory_trims_total",
		Help: "Times the quiet server collected its garbage and returned free memory to the kernel (-memory-trim).",
	})
	trimmed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_memory_trimmed_bytes_total",
		Help: "Heap waste (garbage and free resident pages) seen before each trim, in bytes.",
	})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(trims, trimmed)
	}
	prev := read(s)
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		now := read(s)
		if cfg.due(prev, now) && time.Since(last) >= cfg.MinInterval {
			start := time.Now()
			debug.FreeOSMemory()
			last = time.Now()
			trims.Inc()
			trimmed.Add(float64(now.waste()))
			cfg.Logger.Debug("returned garbage to the kernel", "waste_bytes", now.waste(),
				"live_bytes", now.live, "took", last.Sub(start))
			now = read(s)
		}
		prev = now
	}
}

// due reports whether the heap holds enough waste, and the node has been
// quiet enough since prev, for a trim.
func (c *Config) due(prev, now heap) bool {
	waste := now.waste()
	quiet := float64(now.allocs-prev.allocs) <= c.QuietRatio*float64(now.live)
	return quiet && waste >= c.MinWaste && float64(waste) >= c.MinWasteRatio*float64(now.live)
}
