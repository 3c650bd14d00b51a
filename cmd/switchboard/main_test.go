package main

import (
	"os"
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
	goleak.VerifyTestMain(m)
}
