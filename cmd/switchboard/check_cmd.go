package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchboard-rtc/switchboard/cmd/switchboard/check"
)

// mainCheck is `switchboard check URL`: exit status 0 when every check
// passed, 1 when one failed, 2 for a usage error.
func mainCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("switchboard check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg check.Config
	jsonOut := fs.Bool("json", false, "print the results as JSON, for monitoring")
	fs.StringVar(&cfg.TURNURL, "turn-url", "", "also check this relay, e.g. turn:relay.example.com:3478 (needs -turn-secret)")
	fs.StringVar(&cfg.TURNSecret, "turn-secret", "", "the relay's static-auth-secret, to mint credentials for -turn-url")
	fs.StringVar(&cfg.JoinToken, "join-token", "", "join token for a server started with -join-secret, covering rooms switchboard-check-* (TURN credentials come only in a room)")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "longest wait of each step")
	caFile := fs.String("ca-file", "", "PEM file of CA certificates to trust instead of the system's (a private CA)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: switchboard check [flags] URL\n\nChecks a deployment the way a browser uses it: TLS, every signaling channel,\nthe ICE servers handed out, STUN, TURN per transport, and a relay-only call.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	cfg.URL = fs.Arg(0)
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(stderr, "switchboard check:", err)
			return 2
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			fmt.Fprintln(stderr, "switchboard check: no certificate in", *caFile)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := check.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "switchboard check:", err)
		return 2
	}
	if *jsonOut {
		if err := check.PrintJSON(stdout, results); err != nil {
			return 2
		}
	} else {
		check.Print(stdout, results)
	}
	if check.Failed(results) {
		return 1
	}
	return 0
}
