package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/switchboard-rtc/switchboard/turn"
)

// parseTurnArgs reads `switchboard turn [-c FILE] [--key value ...]`: the
// file in coturn's turnserver.conf syntax first, then the flags over it,
// as coturn does. Keys and flags come from one table (turn.Options).
func parseTurnArgs(args []string, out io.Writer) (*turn.Options, error) {
	newFlags := func(o *turn.Options, file *string) *flag.FlagSet {
		fs := flag.NewFlagSet("switchboard turn", flag.ContinueOnError)
		fs.SetOutput(out)
		fs.Usage = func() {
			fmt.Fprintln(out, "Usage: switchboard turn [-c FILE] [--KEY VALUE ...]: the STUN/TURN relay alone; flags win over the file (docs/turn.md)")
			printFlags(out, fs, false)
		}
		fs.StringVar(file, "c", "", "config file in coturn's turnserver.conf syntax")
		o.RegisterFlags(fs, "")
		return fs
	}
	var file string
	if err := newFlags(turn.DefaultOptions(), &file).Parse(args); err != nil {
		return nil, err
	}
	o := turn.DefaultOptions()
	var fileErr error
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errConfig, err)
		}
		fileErr = o.ParseConfigFile(f, file)
		f.Close()
	}
	fs := newFlags(o, &file)
	fs.SetOutput(io.Discard) // the first pass printed any usage error
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errConfig, fs.Arg(0))
	}
	if fileErr != nil {
		// Every problem in one run: the file's bad lines, then what the
		// lines it could read add up to.
		return nil, errors.Join(fileErr, o.Validate())
	}
	return o, nil
}

// turnLogger honours log-file and verbose.
func turnLogger(o *turn.Options, stderr io.Writer) (*slog.Logger, func(), error) {
	level := slog.LevelInfo
	if o.Verbose {
		level = slog.LevelDebug
	}
	w, closeLog := stderr, func() {}
	switch o.LogFile {
	case "", "stderr":
	case "stdout", "-":
		w = os.Stdout
	default:
		f, err := os.OpenFile(o.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: log-file: %v", errConfig, err)
		}
		w, closeLog = f, func() { f.Close() }
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), closeLog, nil
}

// runTurn runs the standalone relay until ctx ends or a drain completes.
// ready, if set, sees the started relay (tests read its addresses).
func runTurn(ctx context.Context, args []string, stderr io.Writer, sig turn.Signals, ready func(*turn.Standalone)) error {
	o, err := parseTurnArgs(args, stderr)
	if err != nil {
		return err
	}
	log, closeLog, err := turnLogger(o, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	st, err := turn.StartStandalone(o, log)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(st)
	}
	if err := st.Run(ctx, sig); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}
