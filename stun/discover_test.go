package stun

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// startResponder serves RFC 5780 on 127.0.0.1 and 127.0.0.2, two ports
// each, and returns the primary address.
func startResponder(t *testing.T) *net.UDPAddr {
	t.Helper()
	var socks [4]net.PacketConn
	bind := func(i int, addr string) {
		pc, err := net.ListenPacket("udp4", addr)
		if err != nil {
			t.Skipf("no %s: %v", addr, err)
		}
		socks[i] = pc
	}
	bind(0, "127.0.0.1:0")
	bind(1, "127.0.0.2:0")
	primary, alt := socks[0].LocalAddr().(*net.UDPAddr), socks[1].LocalAddr().(*net.UDPAddr)
	bind(2, net.JoinHostPort("127.0.0.1", itoa(alt.Port)))
	bind(3, net.JoinHostPort("127.0.0.2", itoa(primary.Port)))
	r := NewResponder(primary, alt)
	var wg sync.WaitGroup
	for _, pc := range socks {
		c := r.Add(pc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := c.ReadFrom(buf); err != nil {
					return
				}
			}
		}()
	}
	t.Cleanup(func() {
		for _, pc := range socks {
			pc.Close()
		}
		wg.Wait()
	})
	return primary
}

func itoa(n int) string { return (&net.UDPAddr{Port: n}).String()[1:] }

// TestDiscoverWithoutNAT: on loopback nothing translates, so the report
// says no NAT, endpoint-independent mapping and filtering.
func TestDiscoverWithoutNAT(t *testing.T) {
	primary := startResponder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := DiscoverNAT(ctx, DiscoverConfig{Server: primary.String(),
		Listen: func() (net.PacketConn, error) { return net.ListenPacket("udp4", "127.0.0.1:0") }})
	if err != nil {
		t.Fatal(err)
	}
	if r.NAT || r.Mapping != EndpointIndependent || r.Filtering != EndpointIndependent || r.Other == nil {
		t.Fatalf("report %+v", r)
	}
}

// TestDiscoverRefusals: a server that never answers, and one without an
// alternate address, each get their own error.
func TestDiscoverRefusals(t *testing.T) {
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = DiscoverNAT(ctx, DiscoverConfig{Server: silent.LocalAddr().String(), Wait: 50 * time.Millisecond, Attempts: 2})
	if !IsNoAnswer(err) {
		t.Fatalf("silent server: %v", err)
	}

	plain, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(plain)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	defer func() { plain.Close(); <-done }()
	_, err = DiscoverNAT(ctx, DiscoverConfig{Server: plain.LocalAddr().String()})
	if !IsNoRFC5780(err) {
		t.Fatalf("plain STUN server: %v", err)
	}
}
