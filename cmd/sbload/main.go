// Command sbload is the load generator for the switchboard signaling
// server: it holds many idle sessions, relays offers between pairs of
// peers flat out or at a fixed rate, or cuts and resumes sessions, over
// WebSocket, server-sent events or long-polling, and reports connection
// memory, throughput, latency and resume time. scripts/bench.sh drives
// it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbload:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal now kills the process
	}()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sbload:", err)
		os.Exit(1)
	}
}

// run executes the configured scenario, prints its report to stdout and
// fails when the run was interrupted or counted more than cfg.MaxErrors
// errors.
func run(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "sbload: "+format+"\n", args...)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	errs := newErrorLog()
	var interrupted bool
	var err error
	switch cfg.Scenario {
	case scenarioIdle:
		var res *idleResult
		if res, err = runIdle(ctx, cfg, errs, logf); err == nil {
			interrupted = res.Interrupted
			if cfg.JSON {
				err = res.writeJSON(stdout)
			} else {
				res.writeText(stdout)
			}
		}
	case scenarioResume:
		var res *resumeResult
		if res, err = runResume(ctx, cfg, errs, logf); err == nil {
			interrupted = res.Interrupted
			if cfg.JSON {
				err = res.writeJSON(stdout)
			} else {
				res.writeText(stdout)
			}
		}
	case scenarioHoard:
		var res *hoardResult
		if res, err = runHoard(ctx, cfg, errs, logf); err == nil {
			interrupted = res.Interrupted
			if cfg.JSON {
				err = res.writeJSON(stdout)
			} else {
				res.writeText(stdout)
			}
		}
	case scenarioBurst:
		var res *burstResult
		if res, err = runBurst(ctx, cfg, errs, logf); err == nil {
			interrupted = res.Interrupted
			if cfg.JSON {
				err = res.writeJSON(stdout)
			} else {
				res.writeText(stdout)
			}
		}
	default:
		var res *relayResult
		if res, err = runRelay(ctx, cfg, errs, logf); err == nil {
			interrupted = res.Interrupted
			if cfg.JSON {
				err = res.writeJSON(stdout)
			} else {
				res.writeText(stdout)
			}
		}
	}
	n := errs.total()
	if n > 0 {
		fmt.Fprintf(stderr, "sbload: %d errors:\n%s", n, errs)
	}
	switch {
	case err != nil:
		return err
	case n > cfg.MaxErrors:
		return fmt.Errorf("%w: %d, -max-errors is %d", errTooMany, n, cfg.MaxErrors)
	case interrupted:
		return errInterrupted
	}
	return nil
}
