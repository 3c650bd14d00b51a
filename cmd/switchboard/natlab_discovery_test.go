package main

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/cmd/switchboard/internal/natlab"
	"github.com/switchboard-rtc/switchboard/stun"
)

// wantBehaviour is what RFC 5780 discovery must find behind each router
// (mapping, filtering); networks without UDP get no answer at all.
var wantBehaviour = map[string][2]stun.Behaviour{
	"eim-eif":  {stun.EndpointIndependent, stun.EndpointIndependent},
	"eim-adf":  {stun.EndpointIndependent, stun.AddressDependent},
	"eim-apdf": {stun.EndpointIndependent, stun.AddressAndPortDependent},
	"apdm":     {stun.AddressAndPortDependent, stun.AddressAndPortDependent},
}

// coturnWords are turnutils_natdiscovery's names for the behaviours.
var coturnWords = map[string]stun.Behaviour{
	"Endpoint Independent":       stun.EndpointIndependent,
	"Address Dependent":          stun.AddressDependent,
	"Address and Port Dependent": stun.AddressAndPortDependent,
}

var coturnVerdict = regexp.MustCompile(`NAT with (.+) (Mapping|Filtering)!`)

// coturnDiscovery runs turnutils_natdiscovery -m -f in ns against the
// bundled relay and reads its verdicts; unknown where it printed none.
func coturnDiscovery(ctx context.Context, l *natlab.Lab, ns string) (mapping, filtering stun.Behaviour, out string) {
	cmd := l.Command(ns, "turnutils_natdiscovery", "-m", "-f", "-p", "3478", natlab.Pub.String())
	b, _ := cmd.CombinedOutput()
	for _, m := range coturnVerdict.FindAllStringSubmatch(string(b), -1) {
		if m[2] == "Mapping" {
			mapping = coturnWords[m[1]]
		} else {
			filtering = coturnWords[m[1]]
		}
	}
	return mapping, filtering, string(b)
}

// TestNATDiscovery: stun.DiscoverNAT, run from each client network
// against the bundled relay (-turn-alt-ip), finds each router's mapping
// and filtering, and coturn's turnutils_natdiscovery, run in the same
// namespace at the same time, finds the same; where UDP is blocked both
// get no answer.
func TestNATDiscovery(t *testing.T) {
	parallel(t)
	coturnTool(t, "turnutils_natdiscovery")
	l := natlab.Start(t)
	startLabServer(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type row struct {
		ours              stun.NATReport
		oursErr           error
		coturnM, coturnF  stun.Behaviour
		coturnOut         string
		oursTook, cotTook time.Duration
	}
	rows := make([]row, len(l.Networks))
	var wg sync.WaitGroup
	for i, n := range l.Networks {
		wg.Add(2)
		go func() {
			defer wg.Done()
			start := time.Now()
			rows[i].coturnM, rows[i].coturnF, rows[i].coturnOut = coturnDiscovery(ctx, l, l.ClientNS(n.Name))
			rows[i].cotTook = time.Since(start)
		}()
		go func() {
			defer wg.Done()
			start := time.Now()
			rows[i].ours, rows[i].oursErr = discoverFrom(ctx, l.ClientNS(n.Name))
			rows[i].oursTook = time.Since(start)
		}()
	}
	wg.Wait()
	var table strings.Builder
	table.WriteString("| network | router | stun.DiscoverNAT mapping / filtering | turnutils_natdiscovery mapping / filtering |\n|---|---|---|---|\n")
	for i, n := range l.Networks {
		r := rows[i]
		ours := fmt.Sprintf("%s / %s (%.1f s)", r.ours.Mapping, r.ours.Filtering, r.oursTook.Seconds())
		if r.oursErr != nil {
			ours = fmt.Sprintf("no answer (%.1f s)", r.oursTook.Seconds())
		}
		cot := fmt.Sprintf("%s / %s (%.1f s)", r.coturnM, r.coturnF, r.cotTook.Seconds())
		if r.coturnM == stun.BehaviourUnknown && r.coturnF == stun.BehaviourUnknown {
			cot = fmt.Sprintf("no answer (%.1f s)", r.cotTook.Seconds())
		}
		fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", n.Name, n.Behaviour, ours, cot)
		if !n.UDP() {
			if !stun.IsNoAnswer(r.oursErr) {
				t.Errorf("%s: DiscoverNAT %+v, %v; want no answer", n.Name, r.ours, r.oursErr)
			}
			if r.coturnM != stun.BehaviourUnknown || r.coturnF != stun.BehaviourUnknown {
				t.Errorf("%s: coturn found %s/%s without UDP:\n%s", n.Name, r.coturnM, r.coturnF, r.coturnOut)
			}
			continue
		}
		want := wantBehaviour[n.Behaviour]
		if r.oursErr != nil || r.ours.Mapping != want[0] || r.ours.Filtering != want[1] || !r.ours.NAT ||
			!r.ours.Mapped.IP.Equal(n.WAN) {
			t.Errorf("%s: DiscoverNAT %+v, %v; want %s/%s behind %s", n.Name, r.ours, r.oursErr, want[0], want[1], n.WAN)
		}
		if r.coturnM != want[0] || r.coturnF != want[1] {
			t.Errorf("%s: coturn %s/%s, want %s/%s:\n%s", n.Name, r.coturnM, r.coturnF, want[0], want[1], r.coturnOut)
		}
	}
	t.Log("NAT discovery (docs/nat.md):\n" + table.String())
}

// discoverFrom runs stun.DiscoverNAT with its sockets in ns.
func discoverFrom(ctx context.Context, ns string) (stun.NATReport, error) {
	n, err := natlab.NewNet(ns)
	if err != nil {
		return stun.NATReport{}, err
	}
	return stun.DiscoverNAT(ctx, stun.DiscoverConfig{
		Server: net.JoinHostPort(natlab.Pub.String(), "3478"),
		Listen: func() (net.PacketConn, error) { return n.ListenPacket("udp4", "0.0.0.0:0") },
	})
}
