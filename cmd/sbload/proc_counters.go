package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The burst scenario explains a server's CPU per offer with what the
// kernel counts for it: page faults (a cold heap or buffers being
// touched) and context switches (threads parking and waking). Both are
// read from /proc at the same instants as the CPU time, so they cover the
// bursts only.

// procCounters are a process's fault and switch counts (Linux).
type procCounters struct {
	minflt  int64 // minor page faults, all threads, including exited ones
	volCS   int64 // voluntary context switches: blocked, parked, slept
	involCS int64 // involuntary: preempted
}

func (c procCounters) sub(d procCounters) procCounters {
	return procCounters{c.minflt - d.minflt, c.volCS - d.volCS, c.involCS - d.involCS}
}

// readProcCounters reads /proc/<pid>/stat and the status of every live
// thread; switches of threads that exited between two reads are lost,
// which the Go runtime and Node, keeping their threads, rarely do.
func readProcCounters(pid int) (procCounters, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return procCounters{}, err
	}
	// Fields after the parenthesised command name start at field 3;
	// minflt is field 10.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 8 {
		return procCounters{}, fmt.Errorf("%s/stat: unexpected %q", dir, b)
	}
	var c procCounters
	if c.minflt, err = strconv.ParseInt(f[7], 10, 64); err != nil {
		return procCounters{}, fmt.Errorf("%s/stat: minflt: %w", dir, err)
	}
	tasks, err := filepath.Glob(dir + "/task/*/status")
	if err != nil {
		return procCounters{}, err
	}
	for _, t := range tasks {
		vol, invol, err := taskSwitches(t)
		if err != nil {
			continue // the thread exited since the glob
		}
		c.volCS += vol
		c.involCS += invol
	}
	return c, nil
}

func taskSwitches(status string) (vol, invol int64, err error) {
	f, err := os.Open(status)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch name {
		case "voluntary_ctxt_switches":
			vol, _ = strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		case "nonvoluntary_ctxt_switches":
			invol, _ = strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		}
	}
	return vol, invol, sc.Err()
}

// perfControl switches a `perf stat --control fifo:CTL,ACK -D -1` run on
// for each burst and off after it, so that its counts (system calls among
// them) cover the bursts only.
type perfControl struct {
	ctl  *os.File
	ack  *bufio.Reader
	f    *os.File
	wait time.Duration // for an ack; perfAckWait
}

// perfAckWait bounds the wait for perf to acknowledge a command.
const perfAckWait = 5 * time.Second

// openPerfControl opens the "CTL,ACK" fifo pair that perf listens on.
// Both are opened read-write, as perf does, so that no open blocks on a
// perf that is late or gone: a command waits in the fifo until perf reads
// it, and a missing ack ends the wait after perfAckWait.
func openPerfControl(spec string) (*perfControl, error) {
	ctlPath, ackPath, ok := strings.Cut(spec, ",")
	if !ok {
		return nil, fmt.Errorf("%w: -perf-control wants CTL_FIFO,ACK_FIFO", errConfig)
	}
	ctl, err := os.OpenFile(ctlPath, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("perf control: %w", err)
	}
	ack, err := os.OpenFile(ackPath, os.O_RDWR, 0)
	if err != nil {
		ctl.Close()
		return nil, fmt.Errorf("perf control: %w", err)
	}
	return &perfControl{ctl: ctl, ack: bufio.NewReader(ack), f: ack, wait: perfAckWait}, nil
}

// command sends "enable" or "disable" and waits for perf's ack.
func (p *perfControl) command(cmd string) error {
	if _, err := p.ctl.WriteString(cmd + "\n"); err != nil {
		return fmt.Errorf("perf control %s: %w", cmd, err)
	}
	_ = p.f.SetReadDeadline(time.Now().Add(p.wait))
	// perf writes its C string's terminating NUL after "ack\n", so the
	// next ack starts with it.
	line, err := p.ack.ReadString('\n')
	if err != nil || strings.Trim(line, "\x00 \n") != "ack" {
		return fmt.Errorf("perf control %s: ack %q: %v", cmd, line, err)
	}
	return nil
}

func (p *perfControl) Close() error {
	p.ctl.Close()
	return p.f.Close()
}
