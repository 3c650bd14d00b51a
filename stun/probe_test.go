package stun

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestProbe: a STUN server answers the probe; a socket that never answers
// fails it when the context ends.
func TestProbe(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, buf := NewConn(pc), make([]byte, 1500)
		for { // answers Binding requests inside ReadFrom, until closed
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	defer func() { pc.Close(); <-served }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := Probe(ctx, pc.LocalAddr().String()); err != nil {
		t.Fatalf("probe of a STUN server: %v", err)
	}

	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := Probe(ctx, silent.LocalAddr().String()); err == nil {
		t.Fatal("probe of a silent socket succeeded")
	}
}
