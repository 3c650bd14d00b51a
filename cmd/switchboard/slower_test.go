package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// slower stretches d by how busy the machine is now: the 1-minute load
// average per core, between 1 and maxSlowdown. On a quiet machine every
// bound is as written. Beside another full run of the suite (load 16–19
// on 2 cores) a CDP call, a click or a TLS handshake with a server under
// the race detector took longer than the 5 s or 3 s that are plenty
// alone (issue 20: "click join: context deadline exceeded").
func slower(d time.Duration) time.Duration {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return d
	}
	load, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		return d
	}
	f := min(max(load/float64(runtime.NumCPU()), 1), maxSlowdown)
	return time.Duration(float64(d) * f)
}

// maxSlowdown bounds the stretch: a test that hangs still fails.
const maxSlowdown = 4

// slowerDeadline is deadline with what is left of it stretched (slower).
func slowerDeadline(deadline time.Time) time.Time {
	return time.Now().Add(slower(time.Until(deadline)))
}
