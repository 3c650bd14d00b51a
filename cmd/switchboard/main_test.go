package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// app, the relay and the pion peers must all stop on close. Started with
// runMainEnv set, the binary is switchboard instead (the NAT lab runs it
// inside a network namespace).
func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	// The switchboards tests start (this binary as one, $SB_BIN) keep no
	// sessions in the user's state directory unless a test says so
	// with -state-file: one test's sessions are not the next one's.
	os.Setenv("SWITCHBOARD_STATE_FILE", "off")
	// Before any test verifies a certificate: Go reads the system roots
	// once per process, and pion's TURN-over-TLS client only trusts those.
	removeLabCA, err := trustLabCertificate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "NAT lab certificate:", err)
		os.Exit(1)
	}
	code := m.Run()
	removeLabCA()
	if built.path != "" {
		os.RemoveAll(filepath.Dir(built.path))
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak: errors on successful test run:", err)
			code = 1
		}
	}
	os.Exit(code)
}
