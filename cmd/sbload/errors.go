package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

var (
	errConfig      = errors.New("invalid configuration")
	errSetup       = errors.New("connection setup failed")
	errServer      = errors.New("server sent an error")
	errTooMany     = errors.New("too many errors")
	errNoPeers     = errors.New("no connection could be set up")
	errBadFrame    = errors.New("unexpected frame")
	errInterrupted = errors.New("interrupted; the figures cover part of the run")
	errClosed      = errors.New("closed by this tool")
)

// errorLog counts a run's errors by kind and keeps the first message of
// each kind, so that a run with thousands of failures prints a few lines.
type errorLog struct {
	mu    sync.Mutex
	count map[string]int
	first map[string]string
}

func newErrorLog() *errorLog {
	return &errorLog{count: make(map[string]int), first: make(map[string]string)}
}

func (l *errorLog) add(kind string, err error) { l.addN(kind, 1, err) }

func (l *errorLog) addN(kind string, n int, err error) {
	if n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count[kind] == 0 && err != nil {
		l.first[kind] = err.Error()
	}
	l.count[kind] += n
}

func (l *errorLog) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.count {
		n += c
	}
	return n
}

// counts returns a copy of the counts by kind.
func (l *errorLog) counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.count))
	for k, c := range l.count {
		out[k] = c
	}
	return out
}

// String lists each kind with its count and first message, sorted by kind.
func (l *errorLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	kinds := make([]string, 0, len(l.count))
	for k := range l.count {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-14s %6d  first: %s\n", k, l.count[k], l.first[k])
	}
	return b.String()
}
