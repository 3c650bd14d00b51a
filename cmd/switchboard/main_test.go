package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// app, the relay and the pion peers must all stop on close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
