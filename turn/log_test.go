package turn

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestPionLogsThrottled: a flood of pion log lines, debug ones included,
// is cut to the shared budget.
func TestPionLogsThrottled(t *testing.T) {
	var buf bytes.Buffer
	f := newSlogFactory(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l := f.NewLogger("test")
	for i := 0; i < 1000; i++ {
		l.Debugf("bad packet %d", i)
		l.Warn("bad packet")
	}
	if n := strings.Count(buf.String(), "\n"); n > 60 {
		t.Fatalf("%d lines written for 2000 logged; the budget is a burst of 50", n)
	}
}
