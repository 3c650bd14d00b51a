package stun

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pion/stun/v2"
)

// TestBatchedBurst: a burst larger than one batch, with other packets
// mixed in, gets every Binding answered and every other packet handed to
// the reader in order.
func TestBatchedBurst(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn := NewConn(pc)
	if conn.batch == nil {
		t.Fatal("a *net.UDPConn is not read in batches")
	}
	passed := make(chan string, 16)
	go func() {
		defer close(passed)
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			passed <- string(buf[:n])
		}
	}()
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	const requests = 3*batchSize + 5
	sentIDs := make(map[[stun.TransactionIDSize]byte]bool)
	for i := range requests {
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
		sentIDs[req.TransactionID] = true
		if _, err := client.WriteTo(req.Raw, pc.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if i%40 == 0 {
			if _, err := client.WriteTo([]byte{'x', byte(i)}, pc.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
	}
	buf := make([]byte, 1500)
	for got := 0; got < requests; got++ {
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := client.Read(buf)
		if err != nil {
			t.Fatalf("after %d answers: %v", got, err)
		}
		resp := &stun.Message{Raw: buf[:n]}
		if resp.Decode() != nil || resp.Type != stun.BindingSuccess || !sentIDs[resp.TransactionID] {
			t.Fatalf("unexpected answer %v", resp)
		}
		delete(sentIDs, resp.TransactionID)
	}
	for i := 0; i < requests; i += 40 {
		select {
		case got := <-passed:
			if got != string([]byte{'x', byte(i)}) {
				t.Fatalf("reader got %q, want packet %d", got, i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("packet %d never reached the reader", i)
		}
	}
	if conn.Answered() != requests {
		t.Fatalf("answered %d, want %d", conn.Answered(), requests)
	}
	pc.Close()
	for range passed {
	}
}

// TestBatchedDualStack: a dual-stack socket answers IPv6 clients and
// IPv4 clients (as IPv4-mapped addresses) with their own address mapped,
// and hands other packets on with the sender's address.
func TestBatchedDualStack(t *testing.T) {
	pc, err := net.ListenPacket("udp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	conn := NewConn(pc)
	defer conn.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	from := make(chan net.Addr, 2)
	go func() {
		buf := make([]byte, 1500)
		for {
			_, addr, err := conn.ReadFrom(buf)
			if err != nil {
				close(from)
				return
			}
			from <- addr
		}
	}()
	for _, c := range []struct{ network, server string }{{"udp6", "[::1]"}, {"udp4", "127.0.0.1"}} {
		client, err := net.ListenPacket(c.network, net.JoinHostPort(trimBrackets(c.server), "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server, err := net.ResolveUDPAddr(c.network, net.JoinHostPort(trimBrackets(c.server), strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		if _, err := client.WriteTo(req.Raw, server); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := client.ReadFrom(buf)
		if err != nil {
			t.Fatalf("%s: %v", c.network, err)
		}
		resp := &stun.Message{Raw: buf[:n]}
		var mapped stun.XORMappedAddress
		if resp.Decode() != nil || mapped.GetFrom(resp) != nil {
			t.Fatalf("%s: bad answer %v", c.network, resp)
		}
		local := client.LocalAddr().(*net.UDPAddr)
		if mapped.Port != local.Port || !mapped.IP.Equal(server.IP) {
			t.Fatalf("%s: mapped %v, want %v port %d", c.network, mapped, server.IP, local.Port)
		}
		if _, err := client.WriteTo([]byte("not stun"), server); err != nil {
			t.Fatal(err)
		}
		select {
		case addr := <-from:
			ua, ok := addr.(*net.UDPAddr)
			if !ok || ua.Port != local.Port || !ua.IP.Equal(server.IP) {
				t.Fatalf("%s: reader saw %v", c.network, addr)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: packet never reached the reader", c.network)
		}
	}
}

func trimBrackets(s string) string {
	if len(s) > 1 && s[0] == '[' {
		return s[1 : len(s)-1]
	}
	return s
}

// TestIntercept: packets the interceptor keeps are not returned, stay
// intact until release, and release comes before the reader returns a
// packet or waits for more; both with batches and without.
func TestIntercept(t *testing.T) {
	for _, batched := range []bool{true, false} {
		t.Run("batched="+strconv.FormatBool(batched), func(t *testing.T) {
			pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			conn := NewConn(pc)
			if !batched {
				conn.batch = nil
			}
			var kept [][]byte // points into the reader's buffers until release
			var released []string
			conn.Intercept(func(pkt []byte, _ net.Addr) bool {
				if pkt[0] != 'k' {
					return false
				}
				kept = append(kept, pkt)
				return true
			}, func() {
				for _, k := range kept {
					released = append(released, string(k))
				}
				kept = kept[:0]
			})
			client, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			for _, p := range []string{"k1", "k2", "pass", "k3"} {
				if _, err := client.WriteTo([]byte(p), pc.LocalAddr()); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 1500)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := conn.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "pass" {
				t.Fatalf("read %q (%v), want pass", buf[:n], err)
			}
			if len(released) != 2 || released[0] != "k1" || released[1] != "k2" {
				t.Fatalf("released %q before returning pass, want k1 k2", released)
			}
			// k3 is released before the reader waits again, here until the deadline.
			_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, _, err := conn.ReadFrom(buf); err == nil {
				t.Fatal("read a kept packet")
			}
			if len(released) != 3 || released[2] != "k3" {
				t.Fatalf("released %q, want k1 k2 k3", released)
			}
		})
	}
}
