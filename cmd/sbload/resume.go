package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// resumeResult is what a resume run reports.
type resumeResult struct {
	Transport string
	Rounds    int // asked for
	Completed int
	Events    int
	Size      int
	// Replay is from the start of the reconnect (dial) to the last
	// replayed event; First to the first one.
	Replay, First latencies
	Errors        map[string]int
	ErrorTotal    int
	Interrupted   bool
}

// runResume runs the rounds one after another. Each round: peers A and B
// join a room; A's channel is cut without a goodbye; B sends A
// cfg.Events offers, and once the server has handled them A reconnects
// with its token and last seq and reads until the last offer.
func runResume(ctx context.Context, cfg *config, errs *errorLog, logf func(string, ...any)) (*resumeResult, error) {
	res := &resumeResult{Transport: cfg.Transport, Rounds: cfg.Rounds, Events: cfg.Events, Size: cfg.Size}
	var replay, first histogram
	for round := range cfg.Rounds {
		if ctx.Err() != nil {
			res.Interrupted = true
			break
		}
		total, firstAt, err := resumeRound(ctx, cfg, "resume-"+strconv.Itoa(round))
		if err != nil {
			errs.add("round", fmt.Errorf("round %d: %w", round, err))
			continue
		}
		replay.record(total)
		first.record(firstAt)
		res.Completed++
		if cfg.Progress {
			logf("resume over %s: round %d: %d events replayed in %.3f ms", cfg.Transport, round, cfg.Events, ms(total))
		}
	}
	res.Replay, res.First = replay.summary(), first.summary()
	res.Errors, res.ErrorTotal = errs.counts(), errs.total()
	return res, nil
}

// resumeRound returns the time from reconnect to the last and to the
// first replayed offer.
func resumeRound(ctx context.Context, cfg *config, room string) (total, firstAt time.Duration, err error) {
	a, err := newResumePeer(ctx, cfg, room)
	if err != nil {
		return 0, 0, fmt.Errorf("setup A: %w", err)
	}
	defer a.end()
	b, err := newResumePeer(ctx, cfg, room)
	if err != nil {
		return 0, 0, fmt.Errorf("setup B: %w", err)
	}
	defer b.end()
	a.setDeadline(time.Now().Add(cfg.DialTimeout))
	if _, err := a.expect("peer-joined"); err != nil {
		return 0, 0, err
	}
	a.cut()
	payload, _ := offerPayload(a.id(), cfg.Size)
	msgs := make([][]byte, cfg.Events)
	for i := range msgs {
		msgs[i] = payload
	}
	if err := b.sendSync(msgs); err != nil {
		return 0, 0, fmt.Errorf("B sending: %w", err)
	}

	rctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	start := time.Now()
	if err := a.resume(rctx); err != nil {
		return 0, 0, err
	}
	a.setDeadline(time.Now().Add(cfg.DialTimeout))
	var prev uint64
	got := 0
	for got < cfg.Events {
		msg, seq, err := a.next()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, 0, fmt.Errorf("after %d of %d replayed offers: %w", got, cfg.Events, err)
		}
		if code := serverError(msg); code != "" {
			return 0, 0, fmt.Errorf("%w: %.200s", errServer, msg)
		}
		if !bytes.HasPrefix(msg, offerPrefix) {
			if err := checkNotice(msg, got); err != nil {
				return 0, 0, err
			}
			continue
		}
		if prev > 0 && seq != prev+1 {
			return 0, 0, fmt.Errorf("%w: replayed seq %d after %d", errBadFrame, seq, prev)
		}
		prev = seq
		got++
		if got == 1 {
			firstAt = time.Since(start)
		}
	}
	return time.Since(start), firstAt, nil
}

// checkNotice accepts the resumed notice before the first replayed offer
// and nothing else.
func checkNotice(msg []byte, got int) error {
	var f struct{ Type string }
	if err := json.Unmarshal(msg, &f); err != nil {
		return fmt.Errorf("%w: %v in %.120s", errBadFrame, err, msg)
	}
	if f.Type != "resumed" || got > 0 {
		return fmt.Errorf("%w: %q during the replay: %.200s", errBadFrame, f.Type, msg)
	}
	return nil
}

// resumeJSON is the -json line of a resume run.
type resumeJSON struct {
	Scenario    string         `json:"scenario"`
	Transport   string         `json:"transport"`
	Rounds      int            `json:"rounds"`
	Completed   int            `json:"completed"`
	Events      int            `json:"events"`
	Size        int            `json:"size"`
	P50ms       float64        `json:"p50_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	MeanMs      float64        `json:"mean_ms"`
	FirstP50ms  float64        `json:"first_p50_ms"`
	FirstP99ms  float64        `json:"first_p99_ms"`
	Errors      int            `json:"errors"`
	ErrorKinds  map[string]int `json:"error_kinds"`
	Interrupted bool           `json:"interrupted"`
}

func (r *resumeResult) writeJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(resumeJSON{
		Scenario: scenarioResume, Transport: r.Transport, Rounds: r.Rounds, Completed: r.Completed,
		Events: r.Events, Size: r.Size, P50ms: ms(r.Replay.P50), P99ms: ms(r.Replay.P99), MaxMs: ms(r.Replay.Max),
		MeanMs: ms(r.Replay.Mean), FirstP50ms: ms(r.First.P50), FirstP99ms: ms(r.First.P99),
		Errors: r.ErrorTotal, ErrorKinds: r.Errors, Interrupted: r.Interrupted,
	})
}

func (r *resumeResult) writeText(w io.Writer) {
	fmt.Fprintf(w, "resume over %s: %d/%d rounds, %d offers of %d B replayed per round\n",
		r.Transport, r.Completed, r.Rounds, r.Events, r.Size)
	l, f := r.Replay, r.First
	fmt.Fprintf(w, "  reconnect to last event   p50 %.3f ms  p99 %.3f ms  max %.3f ms  mean %.3f ms\n",
		ms(l.P50), ms(l.P99), ms(l.Max), ms(l.Mean))
	fmt.Fprintf(w, "  reconnect to first event  p50 %.3f ms  p99 %.3f ms\n", ms(f.P50), ms(f.P99))
	fmt.Fprintf(w, "  errors    %d\n", r.ErrorTotal)
	if r.Interrupted {
		fmt.Fprintln(w, "  interrupted: figures cover part of the run")
	}
}
