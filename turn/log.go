package turn

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pion/logging"
	"golang.org/x/time/rate"
)

// slogFactory routes pion's logs into slog; pion's Trace level maps to Debug.
// pion logs once per bad packet, so a client could flood the log: every
// line that would be written, debug included (an operator chasing a
// problem with -log-level debug is still on the internet), shares a
// budget and the excess is dropped.
type slogFactory struct {
	log    *slog.Logger
	budget *rate.Limiter
}

func newSlogFactory(log *slog.Logger) slogFactory {
	return slogFactory{log: log, budget: rate.NewLimiter(10, 50)}
}

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{f.log.With("scope", scope), f.budget}
}

type slogLogger struct {
	log    *slog.Logger
	budget *rate.Limiter
}

// clientDoings are pion messages (by their format's start) about what a
// client did, not a fault of the server: they are logged at Debug
// whatever level pion gives them. pion logs "Failed to close conn" at
// Error when a TLS client hangs up first: closing then fails to send the
// closeNotify alert, on every such hang-up.
var clientDoings = []string{"Failed to close conn:"}

func clientDoing(format string, args []any) bool {
	if msg, ok := args0(args); ok && format == "%s" {
		format = msg // Error(msg) and the like
	}
	for _, prefix := range clientDoings {
		if strings.HasPrefix(format, prefix) {
			return true
		}
	}
	return false
}

func args0(args []any) (string, bool) {
	if len(args) != 1 {
		return "", false
	}
	s, ok := args[0].(string)
	return s, ok
}

func (l slogLogger) logf(level slog.Level, format string, args ...any) {
	if level > slog.LevelDebug && clientDoing(format, args) {
		level = slog.LevelDebug
	}
	if !l.log.Enabled(context.Background(), level) || !l.budget.Allow() {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l slogLogger) Trace(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l slogLogger) Tracef(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l slogLogger) Debug(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l slogLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l slogLogger) Info(msg string)                   { l.logf(slog.LevelInfo, "%s", msg) }
func (l slogLogger) Infof(format string, args ...any)  { l.logf(slog.LevelInfo, format, args...) }
func (l slogLogger) Warn(msg string)                   { l.logf(slog.LevelWarn, "%s", msg) }
func (l slogLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args...) }
func (l slogLogger) Error(msg string)                  { l.logf(slog.LevelError, "%s", msg) }
func (l slogLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }
