package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadProcCounters(t *testing.T) {
	c0, err := readProcCounters(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Touch fresh pages and block: both counters must move.
	b := make([]byte, 8<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() { w.Write([]byte{1}); w.Close() }()
	_, _ = r.Read(make([]byte, 1))
	c1, err := readProcCounters(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := c1.sub(c0); d.minflt <= 0 || d.volCS < 0 || d.involCS < 0 || c1.volCS <= 0 {
		t.Errorf("counters %+v then %+v", c0, c1)
	}
	if _, err := readProcCounters(1 << 30); err == nil {
		t.Error("no error for a pid that does not exist")
	}
}

// TestPerfControl speaks perf's side of the control fifos: a command
// line in, "ack" out.
func TestPerfControl(t *testing.T) {
	dir := t.TempDir()
	ctlPath, ackPath := filepath.Join(dir, "ctl"), filepath.Join(dir, "ack")
	for _, p := range []string{ctlPath, ackPath} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan []string, 1)
	go func() {
		// perf opens both fifos read-write, so that neither open blocks.
		ctl, err1 := os.OpenFile(ctlPath, os.O_RDWR, 0)
		ack, err2 := os.OpenFile(ackPath, os.O_RDWR, 0)
		if err1 != nil || err2 != nil {
			got <- []string{fmt.Sprint(err1, err2)}
			return
		}
		defer ctl.Close()
		defer ack.Close()
		var cmds []string
		sc := bufio.NewScanner(ctl)
		for len(cmds) < 2 && sc.Scan() {
			cmds = append(cmds, sc.Text())
			ack.WriteString("ack\n\x00") // as perf writes it
		}
		got <- cmds
	}()
	p, err := openPerfControl(ctlPath + "," + ackPath)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, cmd := range []string{"enable", "disable"} {
		if err := p.command(cmd); err != nil {
			t.Fatal(err)
		}
	}
	if cmds := <-got; strings.Join(cmds, " ") != "enable disable" {
		t.Errorf("perf got %q", cmds)
	}
	if _, err := openPerfControl(ctlPath); err == nil {
		t.Error("no error for a spec without the ack fifo")
	}
	// Nobody listens any more: the command fails within the wait.
	p.wait = 100 * time.Millisecond
	if err := p.command("enable"); err == nil {
		t.Error("no error without an ack")
	}
}
