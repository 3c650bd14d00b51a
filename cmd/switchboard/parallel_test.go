package main

import (
	"strings"
	"sync"
	"testing"
)

// The package's tests run in parallel (scripts/test.sh: -parallel 32), in
// two kinds of slot. A Chromium call takes a good part of a core: on a
// 2-core machine, several at once starved each other's media and timers
// (6 browser tests failed at load 19 with any number at once, 2 with two
// at a time and four other tests beside them), so the tests that drive
// Chromium (findChromium) take turns. The others mostly wait on timers and
// other processes; otherSlots bounds them, so that they do not all start
// at once beside the browser. A test waiting for a slot is
// parked: Go's own -parallel limit is set high so that it does not hold
// back the tests of the other kind.
var (
	browserSlots = newSlots(1)
	otherSlots   = newSlots(2)
)

// parallel runs t in parallel with the package's other tests, in one of
// the other slots.
func parallel(t *testing.T) {
	t.Parallel()
	otherSlots.hold(t)
}

type slots struct {
	mu      sync.Mutex
	cond    *sync.Cond
	size    int
	holders map[string]bool // the top-level tests holding a slot
}

func newSlots(size int) *slots {
	s := &slots{size: size, holders: map[string]bool{}}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// hold waits for a slot and holds it until the test's end. A test holding
// one may ask again (its subtests too).
func (s *slots) hold(t *testing.T) {
	top, _, _ := strings.Cut(t.Name(), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holders[top] {
		return
	}
	for len(s.holders) >= s.size {
		s.cond.Wait()
	}
	s.holders[top] = true
	t.Cleanup(func() {
		s.mu.Lock()
		delete(s.holders, top)
		s.mu.Unlock()
		s.cond.Signal()
	})
}
