package echo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/client"
)

// testTimeout bounds every wait for the echo peer.
const testTimeout = 10 * time.Second

// realSignaling serves a real signaling server on 127.0.0.1:0 and
// returns its WebSocket URL and a client already in room, which plays
// the requester.
func realSignaling(t *testing.T, room string) (string, *client.Client) {
	t.Helper()
	srv, err := signaling.New(signaling.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ConnState: srv.ConnState}
	served := make(chan struct{})
	go func() { defer close(served); _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = hs.Shutdown(ctx)
		_ = srv.Shutdown(ctx)
		<-served
	})
	url := "ws://" + ln.Addr().String() + "/v1/ws"
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Join(ctx, room, client.JoinOptions{Name: "requester"}); err != nil {
		t.Fatal(err)
	}
	return url, c
}

func udpSocket(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func hostCandidate(foundation int, c *net.UDPConn) string {
	return fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host", foundation, c.LocalAddr().(*net.UDPAddr).Port)
}

// TestEchoPeerICEOnALeash: the echo peer offers only the public address,
// and sends connectivity checks only to candidates PeerAllowed admits:
// not to a loopback socket named in the offer or trickled, while an
// allowed one gets its checks.
func TestEchoPeerICEOnALeash(t *testing.T) {
	url, requesterSig := realSignaling(t, "room")
	inOffer, trickled, allowed := udpSocket(t), udpSocket(t), udpSocket(t)
	allowedAddr := allowed.LocalAddr().(*net.UDPAddr).AddrPort()
	svc, err := New(Config{URL: url, Lifetime: testTimeout, PublicIP: net.IPv4(127, 0, 0, 1),
		PeerAllowed: func(ap netip.AddrPort) bool { return ap == allowedAddr }})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	start, err := svc.StartEcho("room", requesterSig.Session(), netip.MustParseAddr("127.0.0.1"), false)
	if err != nil {
		t.Fatal(err)
	}
	start()
	var echoID string
	for echoID == "" {
		select {
		case ev := <-requesterSig.Events():
			if pj, ok := ev.(client.PeerJoined); ok {
				echoID = pj.Peer.ID
			}
		case <-time.After(testTimeout):
			t.Fatal("the echo peer did not join")
		}
	}

	requester, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer requester.Close()
	if _, err := requester.CreateDataChannel("echo", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := requester.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	sdp := strings.TrimRight(offer.SDP, "\r\n") + "\r\na=" + hostCandidate(1, inOffer) + "\r\n"
	if err := requesterSig.SendOffer(echoID, sdp); err != nil {
		t.Fatal(err)
	}
	mid := "0"
	for i, c := range []*net.UDPConn{trickled, allowed} {
		if err := requesterSig.SendCandidate(echoID, &client.CandidateInit{Candidate: hostCandidate(2+i, c), SDPMid: &mid}); err != nil {
			t.Fatal(err)
		}
	}

	// Every candidate the echo peer offers is on the public address.
	offered := make(chan string, 64)
	stopReading := make(chan struct{})
	go func() {
		defer close(offered)
		for {
			var ev client.Event
			select {
			case ev = <-requesterSig.Events():
			case <-stopReading:
				return
			}
			switch ev := ev.(type) {
			case client.Answer:
				for _, line := range strings.Split(ev.SDP, "\n") {
					if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=candidate:"); ok {
						offered <- v
					}
				}
			case client.Candidate:
				if ev.Candidate != nil && ev.Candidate.Candidate != "" {
					offered <- ev.Candidate.Candidate
				}
			}
		}
	}()

	// The others are read while the allowed socket gets its checks: six
	// of them (pion gives up on a pair after seven unanswered), by which
	// time the echo peer, which checks every pair it holds in turn, would
	// have sent to the others too.
	var strays atomic.Int64
	var wg sync.WaitGroup
	for _, c := range []*net.UDPConn{inOffer, trickled} {
		_ = c.SetReadDeadline(time.Now().Add(testTimeout))
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				strays.Add(1)
				t.Errorf("loopback socket %v, not allowed, got %d bytes from %v", c.LocalAddr(), n, from)
			}
		}()
	}
	buf := make([]byte, 1500)
	_ = allowed.SetReadDeadline(time.Now().Add(testTimeout))
	for range 6 {
		if _, err := allowed.Read(buf); err != nil {
			t.Fatalf("the allowed candidate got no connectivity check: %v", err)
		}
	}
	for _, c := range []*net.UDPConn{inOffer, trickled} {
		_ = c.SetReadDeadline(time.Now()) // ends the readers
	}
	wg.Wait()
	if n := strays.Load(); n > 0 {
		t.Errorf("%d datagrams to candidates PeerAllowed refuses", n)
	}
	close(stopReading)
	n := 0
	for raw := range offered {
		c, err := ice.UnmarshalCandidate(raw)
		if err != nil {
			t.Fatalf("echo candidate %q: %v", raw, err)
		}
		if c.Address() != "127.0.0.1" {
			t.Errorf("echo peer offered %q: not the public address", raw)
		}
		n++
	}
	if n == 0 {
		t.Error("echo peer offered no candidate")
	}
}

// TestEchoCountsBySource: requesters count by /24 (IPv4) and /64 (IPv6),
// whatever finer source the signaling server hands over.
func TestEchoCountsBySource(t *testing.T) {
	svc, err := New(Config{URL: "ws://127.0.0.1:1/v1/ws", MaxPeers: 10, Lifetime: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	for _, tc := range []struct {
		source string
		busy   bool
	}{
		{"127.0.0.1", false},
		{"127.0.0.2", true}, // the same /24
		{"127.0.1.1", false},
		{"::ffff:127.0.1.9", true},
		{"2001:db8:1:2::1", false},
		{"2001:db8:1:2:aaaa::1", true}, // the same /64
		{"2001:db8:1:3::1", false},
	} {
		start, err := svc.StartEcho("room", "r", netip.MustParseAddr(tc.source), false)
		if busy := errors.Is(err, signaling.ErrEchoBusy); busy != tc.busy || (err != nil && !busy) {
			t.Errorf("echo for %s: %v, want busy %v", tc.source, err, tc.busy)
		}
		if start != nil {
			start() // dials a closed port and ends
		}
	}
}

// TestCandidateAllowed: remote candidates by address and form.
func TestCandidateAllowed(t *testing.T) {
	cfg := Config{URL: "ws://x"}
	cfg.setDefaults()
	for raw, want := range map[string]bool{
		"": true, // end of candidates
		"candidate:1 1 udp 2130706431 203.0.113.9 5000 typ host":                                true,
		"1 1 udp 2130706431 203.0.113.9 5000 typ host":                                          true,
		"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host":                                  false,
		"candidate:1 1 udp 2130706431 10.1.2.3 5000 typ host":                                   false,
		"candidate:1 1 udp 2130706431 169.254.169.254 80 typ host":                              false,
		"candidate:1 1 udp 2130706431 fd00::2 5000 typ host":                                    false,
		"candidate:1 1 udp 2130706431 0f4c6b2a-9f2e-4d1c-8a3b-1c2d3e4f5a6b.local 5000 typ host": false,
		"candidate:1 1 udp 1677729535 203.0.113.9 5000 typ srflx raddr 10.0.0.1 rport 5000":     true,
		"garbage": false,
	} {
		if got := candidateAllowed(cfg, raw); got != want {
			t.Errorf("%q: %v, want %v", raw, got, want)
		}
	}
}
