// Command switchboard runs the signaling server, the bundled STUN/TURN
// relay and the demo page in one process; `switchboard turn -c FILE` runs
// the STUN/TURN relay alone from a coturn-style config.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchboard-rtc/switchboard/turn"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "turn" {
		os.Exit(mainTurn(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "check" {
		os.Exit(mainCheck(os.Args[2:], os.Stdout, os.Stderr))
	}
	c, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(2)
	}
	if c.ShowVersion {
		fmt.Println(version())
		return
	}
	log := newLogger(c, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal now kills the process
	}()
	ls, err := listen(ctx, c, log) // may wait for a previous process (restart.go)
	if err != nil {
		log.Error("cannot listen", "err", err)
		os.Exit(1)
	}
	reload := make(chan struct{}, 1) // SIGHUP: reload -tls-cert/-tls-key
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	go func() {
		for range hups {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	err = run(ctx, c, ls, log, reload)
	if ls.state != nil {
		ls.state.Close() // last: the next process may restore now
	}
	if err != nil {
		log.Error("switchboard stopped", "err", err)
		os.Exit(1)
	}
}

// mainTurn is `switchboard turn`: SIGTERM/SIGINT drain within
// shutdown-timeout (a second one kills), SIGUSR1 drains without a
// deadline, SIGHUP reloads the TLS certificate.
func mainTurn(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	reload, drain := make(chan struct{}, 1), make(chan struct{}, 1)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1)
	go func() {
		for s := range sigs {
			ch := reload
			if s == syscall.SIGUSR1 {
				ch = drain
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	err := runTurn(ctx, args, os.Stderr, turn.Signals{Reload: reload, Drain: drain}, nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(os.Stderr, "switchboard turn:", err)
		return 1
	}
	return 0
}
