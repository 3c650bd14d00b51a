package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/cmd/switchboard/internal/natlab"
)

// callTimeout bounds one call of the matrix: signaling, ICE (a relayed
// pair waits out the direct checks first) and a message each way.
const callTimeout = 30 * time.Second

// expectedPath is what theory says a call between networks a and b takes:
// "direct" when one side's mapping is endpoint-independent and the other
// side's router lets the first side's packets in (a symmetric mapping
// meets address-and-port-dependent filtering only through the relay), else
// "relayed". A network without UDP is always relayed.
func expectedPath(a, b natlab.Network) string {
	if !a.UDP() || !b.UDP() {
		return "relayed"
	}
	sym := func(n natlab.Network) bool { return n.Behaviour == "apdm" }
	strict := func(n natlab.Network) bool { return n.Behaviour == "apdm" || n.Behaviour == "eim-apdf" }
	if (sym(a) && strict(b)) || (sym(b) && strict(a)) {
		return "relayed"
	}
	return "direct"
}

// wantRelayProto is the transport a peer in n must reach the relay over
// when its own candidate is the relay one.
func wantRelayProto(n natlab.Network) string {
	switch n.Behaviour {
	case "tcp-only":
		return "tcp"
	case "tcp443":
		return "tls"
	}
	return "udp"
}

// callOutcome is one row of the measured matrix.
type callOutcome struct {
	a, b natlab.Network
	ends [2]pairEnd
	took time.Duration
	err  error
}

// problem says how the call missed theory, "" when it did not.
func (o callOutcome) problem() string {
	if o.err != nil {
		return o.err.Error()
	}
	if got, want := o.path(), expectedPath(o.a, o.b); got != want {
		return fmt.Sprintf("%s (%s, %s), want %s", got, o.ends[0], o.ends[1], want)
	}
	for k, n := range []natlab.Network{o.a, o.b} {
		if e := o.ends[k]; e.Local == "relay" && e.RelayProto != wantRelayProto(n) {
			return fmt.Sprintf("%s reached the relay over %s, want %s", n.Name, e.RelayProto, wantRelayProto(n))
		} else if !n.UDP() && e.Local != "relay" {
			return fmt.Sprintf("%s has no UDP but its pair is %s", n.Name, e)
		}
	}
	return ""
}

func (o callOutcome) path() string {
	if o.ends[0].Local == "relay" || o.ends[0].Remote == "relay" || o.ends[1].Local == "relay" || o.ends[1].Remote == "relay" {
		return "relayed"
	}
	return "direct"
}

// TestNATCallMatrix: a pion peer in each client network of the lab calls a
// peer in every other one through switchboard; each call opens a
// DataChannel, carries a message each way, and takes the path theory
// says (direct or relayed, over TURN/UDP, TCP or TLS as the network
// allows). The measured matrix is logged in docs/nat.md's layout.
func TestNATCallMatrix(t *testing.T) {
	parallel(t)
	l := natlab.Start(t)
	srv := startLabServer(t, l)
	nets := l.Networks
	var jobs []callOutcome
	for i, a := range nets {
		for _, b := range nets[i+1:] {
			jobs = append(jobs, callOutcome{a: a, b: b})
		}
	}
	// Three calls at a time: the whole matrix in well under a minute
	// without crowding two cores.
	const parallel = 3
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			j := &jobs[i]
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			start := time.Now()
			j.ends, j.err = labCall(ctx, l, srv, fmt.Sprintf("m%d", i), j.a.Name, j.b.Name)
			j.took = time.Since(start)
		}()
	}
	wg.Wait()
	// A call that missed its theory in the crowd gets one more try, alone:
	// ICE's choice is a race of timers, and a loaded machine (load average
	// 30 on two cores here) can make a working direct pair lose it. What
	// no NAT allows never happens on a retry; what they allow must then.
	retried := 0
	for i := range jobs {
		j := &jobs[i]
		if j.problem() == "" {
			continue
		}
		retried++
		t.Logf("%s↔%s: %s; calling again alone", j.a.Name, j.b.Name, j.problem())
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		start := time.Now()
		j.ends, j.err = labCall(ctx, l, srv, fmt.Sprintf("r%d", i), j.a.Name, j.b.Name)
		j.took = time.Since(start)
		cancel()
		if p := j.problem(); p != "" {
			t.Errorf("%s↔%s: %s", j.a.Name, j.b.Name, p)
		}
	}
	t.Logf("%d calls, %d called again", len(jobs), retried)
	t.Log("measured matrix (docs/nat.md):\n" + matrixTable(nets, jobs))
	if t.Failed() {
		t.Logf("switchboard log:\n%s", srv.log)
	}
}

// matrixTable renders the outcomes as a Markdown table: one row per
// caller network, one column per callee, each cell the path and both
// selected pairs.
func matrixTable(nets []natlab.Network, jobs []callOutcome) string {
	cell := map[[2]string]string{}
	for _, j := range jobs {
		v := "**fail**"
		if j.err == nil {
			v = fmt.Sprintf("%s: %s, %s (%.1f s)", j.path(), j.ends[0], j.ends[1], j.took.Seconds())
		}
		cell[[2]string{j.a.Name, j.b.Name}] = v
	}
	var b strings.Builder
	b.WriteString("| caller ↓ callee → |")
	for _, n := range nets[1:] {
		fmt.Fprintf(&b, " %s (%s) |", n.Name, n.Behaviour)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(nets)-1) + "\n")
	for _, a := range nets[:len(nets)-1] {
		fmt.Fprintf(&b, "| %s (%s) |", a.Name, a.Behaviour)
		for _, n := range nets[1:] {
			fmt.Fprintf(&b, " %s |", cell[[2]string{a.Name, n.Name}])
		}
		b.WriteString("\n")
	}
	return b.String()
}
