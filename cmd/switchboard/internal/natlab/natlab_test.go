package natlab

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pubSocket is a UDP socket on the public segment that answers every
// datagram with the address it came from.
type pubSocket struct {
	pc   net.PacketConn
	done chan struct{}
}

func listenPub(t *testing.T, l *Lab, ip net.IP) *pubSocket {
	t.Helper()
	var pc net.PacketConn
	err := Do(l.PubNS(), func() (err error) {
		pc, err = net.ListenPacket("udp4", net.JoinHostPort(ip.String(), "0"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &pubSocket{pc: pc, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(from.String()), from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-s.done })
	return s
}

func (s *pubSocket) addr() *net.UDPAddr { return s.pc.LocalAddr().(*net.UDPAddr) }

// ask sends from c to s and returns the mapped address s saw, "" when no
// answer came within wait.
func ask(t *testing.T, c net.PacketConn, to *net.UDPAddr, wait time.Duration) string {
	t.Helper()
	if _, err := c.WriteTo([]byte("?"), to); err != nil {
		t.Fatal(err)
	}
	return read(t, c, wait)
}

func read(t *testing.T, c net.PacketConn, wait time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1500)
	n, _, err := c.ReadFrom(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// TestRouters checks each router's behaviour with bare datagrams: the
// mapping a client gets towards two destinations, and which of three
// senders reach that mapping (the port it sent to, another port on that
// address, another address). Then the lab is gone.
func TestRouters(t *testing.T) {
	var name string
	t.Run("lab", func(t *testing.T) {
		l := Start(t)
		name = l.Name
		first, samePort2 := listenPub(t, l, Pub), listenPub(t, l, Pub)
		const wait = 300 * time.Millisecond
		for _, n := range l.Networks {
			t.Run(n.Name, func(t *testing.T) {
				nn, err := NewNet(l.ClientNS(n.Name))
				if err != nil {
					t.Fatal(err)
				}
				c, err := nn.ListenPacket("udp4", ":0")
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				m1 := ask(t, c, first.addr(), wait)
				if !n.UDP() {
					if m1 != "" {
						t.Fatalf("UDP went out: %s", m1)
					}
					return
				}
				m2 := ask(t, c, samePort2.addr(), wait)
				if !strings.HasPrefix(m1, n.WAN.String()+":") || !strings.HasPrefix(m2, n.WAN.String()+":") {
					t.Fatalf("mapped %q and %q, want %s", m1, m2, n.WAN)
				}
				wantSame := n.Behaviour != "apdm"
				if (m1 == m2) != wantSame {
					t.Errorf("mapping towards two ports: %s then %s (%s)", m1, m2, n.Behaviour)
				}
				// Unsolicited: from a port and an address c never sent to.
				mapped, _ := net.ResolveUDPAddr("udp4", m1)
				fromPort := listenPub(t, l, Pub)
				fromIP := listenPub(t, l, Alt)
				_, _ = fromPort.pc.WriteTo([]byte("port"), mapped)
				gotPort := read(t, c, wait) != ""
				_, _ = fromIP.pc.WriteTo([]byte("ip"), mapped)
				gotIP := read(t, c, wait) != ""
				want := map[string][2]bool{"eim-eif": {true, true}, "eim-adf": {true, false}}[n.Behaviour]
				if gotPort != want[0] || gotIP != want[1] {
					t.Errorf("%s: from another port %v, from another address %v; want %v, %v", n.Behaviour, gotPort, gotIP, want[0], want[1])
				}
			})
		}
		t.Run("tcp", func(t *testing.T) { checkTCP(t, l) })
	})
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if name != "" && strings.Contains(string(out), name+"-") {
		t.Fatalf("lab %s left namespaces behind:\n%s", name, out)
	}
}

// checkTCP: the UDP-blocked network reaches TCP 3478 and 443 only, the
// TLS network 443 only.
func checkTCP(t *testing.T, l *Lab) {
	var lns []net.Listener
	for _, port := range []int{443, 3478, 8080} {
		var ln net.Listener
		err := Do(l.PubNS(), func() (err error) {
			ln, err = net.Listen("tcp4", fmt.Sprintf("%s:%d", Pub, port))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	want := map[string]map[int]bool{
		"noudp": {443: true, 3478: true, 8080: false},
		"tls":   {443: true, 3478: false, 8080: false},
		"port":  {443: true, 3478: true, 8080: true},
	}
	for name, ports := range want {
		nn, err := NewNet(l.ClientNS(name))
		if err != nil {
			t.Fatal(err)
		}
		for port, ok := range ports {
			c, err := in(nn.ns, func() (net.Conn, error) {
				return net.DialTimeout("tcp4", fmt.Sprintf("%s:%d", Pub, port), 500*time.Millisecond)
			})
			if err == nil {
				c.Close()
			}
			if (err == nil) != ok {
				t.Errorf("%s: TCP to %d: %v, want open %v", name, port, err, ok)
			}
		}
	}
}
