// Package memtrim gives a quiet server's garbage back to the kernel.
//
// A signaling node takes connections in bursts (a deploy, a reconnect
// storm) and then holds them idle. Each connect leaves garbage (net/http's
// request and hijacked buffers, about 15 KB), so at the end of a burst the
// heap holds up to as much garbage as live data, GOGC=100's headroom. An
// idle node allocates too little to start another collection, so that
// memory stays resident until the runtime's forced collection two minutes
// later, and even then the scavenger keeps what the heap goal allows. A
// Trimmer collects once the node has stayed quiet with a good deal of
// waste and returns the free pages at once: RSS is then about the live
// heap.
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
	// QuietFor is how long the node must have been quiet: every look in
	// that time found less allocated since the one before than
	// QuietRatio of the live heap. A busy node collects by itself, and
	// one between bursts would pay the trim back in page faults at the
	// next. 3 s and 1/64 by default.
	QuietFor   time.Duration
	QuietRatio float64
	// MinWaste is the least waste (garbage, and free pages still
	// resident) worth a trim, in bytes, and as a share of the live heap
	// (MinWasteRatio): 4 MiB and 0.25 by default.
	MinWaste      uint64
	MinWasteRatio float64
	// MinInterval is the least time between two trims: 30 s by default.
	// A trim costs a full collection and the page faults that take the
	// memory back.
	MinInterval time.Duration
	Logger      *slog.Logger // slog.Default() when nil
	// Registerer, when set, gets switchboard_memory_trims_total and
	// switchboard_memory_returned_bytes_total.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.Every == 0 {
		c.Every = time.Second
	}
	if c.QuietFor == 0 {
		c.QuietFor = 3 * time.Second
	}
	if c.QuietRatio == 0 {
		c.QuietRatio = 1.0 / 64
	}
	if c.MinWaste == 0 {
		c.MinWaste = 4 << 20
	}
	if c.MinWasteRatio == 0 {
		c.MinWasteRatio = 0.25
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
	case c.QuietFor < c.Every:
		return fmt.Errorf("%w: QuietFor %v is under Every %v", ErrBadConfig, c.QuietFor, c.Every)
	case c.MinWasteRatio < 0 || c.QuietRatio < 0:
		return fmt.Errorf("%w: negative ratio", ErrBadConfig)
	case c.MinInterval < c.Every:
		return fmt.Errorf("%w: MinInterval %v is under Every %v", ErrBadConfig, c.MinInterval, c.Every)
	}
	return nil
}

// Trimmer trims the process's heap while Run runs.
type Trimmer struct {
	cfg      Config
	trims    prometheus.Counter
	returned prometheus.Counter
}

// New checks cfg and registers the metrics.
func New(cfg Config) (*Trimmer, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Trimmer{
		cfg: cfg,
		trims: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_memory_trims_total",
			Help: "Times the quiet server collected its garbage and returned free memory to the kernel (-memory-trim).",
		}),
		returned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_memory_returned_bytes_total",
			Help: "Heap memory the trims returned to the kernel, in bytes.",
		}),
	}
	if cfg.Registerer != nil {
		for _, m := range []prometheus.Collector{t.trims, t.returned} {
			if err := cfg.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("memtrim: %w", err)
			}
		}
	}
	return t, nil
}

// The runtime's figures a Trimmer reads.
var samples = []string{
	"/gc/heap/allocs:bytes",              // allocated since start
	"/gc/heap/live:bytes",                // marked live by the last collection
	"/memory/classes/heap/objects:bytes", // live plus garbage not yet swept
	"/memory/classes/heap/free:bytes",    // free pages still resident
	"/memory/classes/heap/released:bytes",
}

// heap is one reading of the runtime's figures.
type heap struct{ allocs, live, objects, free, released uint64 }

func read(s []metrics.Sample) heap {
	metrics.Read(s)
	return heap{s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64(), s[3].Value.Uint64(), s[4].Value.Uint64()}
}

// waste is what a trim would give back: garbage, and free pages the
// scavenger keeps resident because the heap's goal allows them.
func (h heap) waste() uint64 {
	return h.objects - min(h.live, h.objects) + h.free
}

// Run trims until ctx ends, and returns ctx's error.
func (t *Trimmer) Run(ctx context.Context) error {
	cfg := &t.cfg
	s := make([]metrics.Sample, len(samples))
	for i, name := range samples {
		s[i].Name = name
	}
	tick := time.NewTicker(cfg.Every)
	defer tick.Stop()
	prev, quietSince := read(s), time.Now()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		now := read(s)
		if !cfg.quiet(prev, now) {
			quietSince = time.Now()
		}
		if time.Since(quietSince) >= cfg.QuietFor && cfg.wasteful(now) && time.Since(last) >= cfg.MinInterval {
			start := time.Now()
			debug.FreeOSMemory()
			last = time.Now()
			after := read(s)
			returned := after.released - min(now.released, after.released)
			t.trims.Inc()
			t.returned.Add(float64(returned))
			cfg.Logger.Debug("returned garbage to the kernel", "returned_bytes", returned,
				"live_bytes", after.live, "took", last.Sub(start))
			now = after
		}
		prev = now
	}
}

// quiet reports whether little was allocated between two looks.
func (c *Config) quiet(prev, now heap) bool {
	return float64(now.allocs-prev.allocs) <= c.QuietRatio*float64(now.live)
}

// wasteful reports whether the heap holds enough waste for a trim.
func (c *Config) wasteful(now heap) bool {
	waste := now.waste()
	return waste >= c.MinWaste && float64(waste) >= c.MinWasteRatio*float64(now.live)
}
