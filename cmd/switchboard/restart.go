package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/state"
)

// A graceful restart of a single node: the stopping process keeps its
// sessions in the state file, and the next process restores them before
// it serves. The next process may start while the old one still runs: it
// binds the HTTP port beside it (SO_REUSEPORT), so that from the moment
// the old one closes its listener the kernel queues connections for the
// new one instead of refusing them, then waits for the old one to save
// and let go of the state file, and only then binds the relay's sockets
// and serves.

// stateFileAuto is -state-file's default: a file for the HTTP address in
// the user's state directory.
const stateFileAuto = "auto"

// stateFilePath is the state file -state-file names, "" for none: off,
// with -redis (a cluster hands sessions over), or by default when there
// is no state directory or no fixed port to tell processes apart by. The
// default is in $STATE_DIRECTORY (systemd's StateDirectory=), else
// $XDG_STATE_HOME/switchboard, else ~/.local/state/switchboard.
func stateFilePath(c *config) string {
	switch c.StateFile {
	case "", "off":
		return ""
	case stateFileAuto:
	default:
		if c.Redis != "" {
			return ""
		}
		return c.StateFile
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if c.Redis != "" || err != nil || port == "0" || port == "" {
		return ""
	}
	name := "sessions-" + port + ".state"
	if host != "" {
		name = "sessions-" + strings.NewReplacer(":", "_", "%", "_", "/", "_").Replace(host) + "-" + port + ".state"
	}
	// systemd's StateDirectory= is the service's own: no subdirectory.
	if dir, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":"); dir != "" {
		return filepath.Join(dir, name)
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "switchboard", name)
}

// takeStateFile takes c's state file, waiting up to -state-wait for the
// process that holds it to save its sessions and exit. A default file
// that cannot be made only turns the feature off; one asked for by name
// must work.
func takeStateFile(ctx context.Context, c *config, log *slog.Logger) (*state.File, error) {
	if c.stateFile == "" {
		if c.StateFile == stateFileAuto && c.Redis == "" {
			log.Info("sessions will end with the process: no state directory ($STATE_DIRECTORY, $XDG_STATE_HOME, $HOME) or no fixed -http port; set -state-file to keep them across restarts")
		}
		return nil, nil
	}
	wait, cancel := context.WithTimeout(ctx, c.StateWait)
	defer cancel()
	f, err := state.Open(wait, c.stateFile, func(holder string) {
		log.Info("waiting for the switchboard on this state file to keep its sessions and exit; its port is shared meanwhile",
			"state_file", c.stateFile, "pid", holder, "wait", c.StateWait)
	})
	switch {
	case errors.Is(err, state.ErrLocked):
		return nil, fmt.Errorf("%w; stop that process, raise -state-wait or use another -state-file", err)
	case err != nil && c.StateFile == stateFileAuto:
		log.Warn("sessions will end with the process: no state file", "err", err)
		return nil, nil
	case err != nil:
		return nil, err
	}
	return f, nil
}

// listenHTTP binds the HTTP listener; with a state file, with
// SO_REUSEPORT, so that a next process can bind it while this one runs.
func listenHTTP(c *config) (net.Listener, error) {
	if c.stateFile == "" {
		return net.Listen("tcp", c.HTTPAddr)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = setReusePort(fd) })
		return errors.Join(err, serr)
	}}
	return lc.Listen(context.Background(), "tcp", c.HTTPAddr)
}

// restoreSessions hands sig the sessions the previous process kept in st,
// before sig serves. A snapshot that cannot be used is one log line: the
// node starts with no sessions, as without a state file.
func restoreSessions(sig *signaling.Server, st *state.File, grace time.Duration, log *slog.Logger) {
	start := time.Now()
	snap, err := st.Load(start, grace)
	if err != nil {
		log.Warn("state file refused, starting with no sessions (the file is kept beside it as .refused)", "state_file", st.Path(), "err", err)
		return
	}
	if snap == nil {
		return
	}
	n, err := sig.Restore(snap)
	if err != nil {
		log.Warn("state file refused, starting with no sessions", "state_file", st.Path(), "err", err)
		return
	}
	log.Info("sessions restored from the state file", "sessions", n, "written", time.Since(snap.Written).Round(time.Millisecond), "took", time.Since(start).Round(time.Microsecond))
}

// keepSessions writes the sessions sig kept when it stopped to st.
func keepSessions(sig *signaling.Server, st *state.File, log *slog.Logger) error {
	start := time.Now()
	snap := sig.Snapshot(start)
	if err := st.Save(snap); err != nil {
		return fmt.Errorf("sessions not kept: %w", err)
	}
	log.Info("sessions kept in the state file for the next process", "sessions", len(snap.Sessions), "state_file", st.Path(), "took", time.Since(start).Round(time.Microsecond))
	return nil
}
