package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// buildTimeout bounds one build of the binary: a cold cache on a busy
// 2-core machine took minutes. It is no test's deadline.
const buildTimeout = 10 * time.Minute

// switchboardBinary is the switchboard binary the tests that run it as a
// process use: $SB_BIN when set (scripts/test.sh builds it once per run,
// for every package), else one built here, before the caller starts any
// clock of its own, as scripts/cluster.sh builds it.
func switchboardBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SB_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("SB_BIN: %v", err)
		}
		return bin
	}
	built.Do(func() { built.path, built.err = buildSwitchboard() })
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// built is the one build of a test process: its tests run in parallel.
var built struct {
	sync.Once
	path string
	err  error
}

func buildSwitchboard() (string, error) {
	dir, err := os.MkdirTemp("", "switchboard-test-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "switchboard")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "sh", "-c", `CGO_ENABLED=0 go build -trimpath -ldflags "$(sh scripts/ldflags.sh)" -o "$0" ./cmd/switchboard`, bin)
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build switchboard: %v\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "built switchboard in %s (set SB_BIN to share one build)\n", time.Since(start).Round(time.Millisecond))
	return bin, nil
}
