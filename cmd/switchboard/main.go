// Command switchboard runs the signaling server, the bundled STUN/TURN
// relay and the demo page in one process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	c, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(2)
	}
	log := newLogger(c, os.Stderr)
	if _, set := os.LookupEnv("GOGC"); !set {
		// An idle connection's RSS is mostly GC headroom over garbage the
		// WebSocket upgrade leaves (docs/benchmarks.md): a tighter target
		// buys ~10% memory per connection for ~6% relay throughput.
		debug.SetGCPercent(50)
	}
	ls, err := listen(c)
	if err != nil {
		log.Error("cannot listen", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal now kills the process
	}()
	if err := run(ctx, c, ls, log); err != nil {
		log.Error("switchboard stopped", "err", err)
		os.Exit(1)
	}
}
