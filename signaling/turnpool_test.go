package signaling

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/stun"
)

// stunHost answers STUN Binding requests on a loopback UDP port until
// closed.
type stunHost struct {
	pc     net.PacketConn
	served chan struct{}
}

func startSTUNHost(t *testing.T, addr string) *stunHost {
	t.Helper()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	h := &stunHost{pc: pc, served: make(chan struct{})}
	go func() {
		defer close(h.served)
		c, buf := stun.NewConn(pc), make([]byte, 1500)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(h.close)
	return h
}

func (h *stunHost) close() { h.pc.Close(); <-h.served }

// TestTURNPool: the peers of a room get the same relay host, the one
// rendezvous hashing picks among the healthy; a host that stops answering
// STUN leaves the pool, and comes back when it answers again.
func TestTURNPool(t *testing.T) {
	hosts := make([]*stunHost, 3)
	addrs := make([]string, 3)
	for i := range hosts {
		hosts[i] = startSTUNHost(t, "127.0.0.1:0")
		addrs[i] = hosts[i].pc.LocalAddr().String()
	}
	pool, err := NewTURNPool(TURNPoolConfig{
		Hosts:    addrs,
		Mint:     func(user string) (string, string, time.Duration) { return "u:" + user, "p", time.Hour },
		Check:    stun.Probe,
		Interval: 20 * time.Millisecond,
		Timeout:  100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	_, url := startServer(t, Config{TURNPool: pool})

	relayOf := func(j frame) string {
		servers, _ := j["iceServers"].([]any)
		if len(servers) != 2 {
			t.Fatalf("joined without the pool's servers: %v", j)
		}
		return servers[0].(map[string]any)["urls"].([]any)[0].(string)
	}
	want := "stun:" + engine.Place([]engine.Node{{ID: addrs[0]}, {ID: addrs[1]}, {ID: addrs[2]}}, "r").ID
	a, b := dial(t, url, nil), dial(t, url, nil)
	if got := relayOf(a.join("r")); got != want {
		t.Fatalf("room r on %s, want %s", got, want)
	}
	if got := relayOf(b.join("r")); got != want {
		t.Fatalf("second peer of r on %s, want %s", got, want)
	}

	down := slices.Index(addrs, want[len("stun:"):])
	hosts[down].close()
	waitHealthy := func(n int) { // the pool's health checks have no event a test can wait on
		t.Helper()
		eventually(t, waitFor, fmt.Sprintf("%d healthy hosts", n), func() error {
			if h := pool.healthyHosts(); len(h) != n {
				return fmt.Errorf("healthy %v", h)
			}
			return nil
		})
	}
	waitHealthy(2)
	if got := relayOf(dial(t, url, nil).join("r")); got == want {
		t.Fatalf("room r still on %s, which stopped answering", got)
	}
	hosts[down] = startSTUNHost(t, addrs[down]) // the same port again
	waitHealthy(3)
	if got := relayOf(dial(t, url, nil).join("r")); got != want {
		t.Fatalf("room r on %s after its host came back, want %s", got, want)
	}
}
