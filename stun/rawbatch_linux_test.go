//go:build linux && (amd64 || arm64)

package stun

import (
	"bytes"
	"net"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// TestSegmentedAnswers: answers to one client in a batch leave as
// segmented messages and arrive every one, in order and intact; a socket
// the kernel will not segment on (UDP checksums off, SO_NO_CHECK) sends
// them one by one and stops trying.
func TestSegmentedAnswers(t *testing.T) {
	for _, refused := range []bool{false, true} {
		name := "segmented"
		if refused {
			name = "refused"
		}
		t.Run(name, func(t *testing.T) {
			pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			b, ok := newRawBatch(pc.(*net.UDPConn)).(*rawBatch)
			if !ok || !b.gso {
				t.Fatal("no raw batches with UDP_SEGMENT (Linux 4.18 has it)")
			}
			if refused {
				var serr error
				if err := b.raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1) }); err != nil || serr != nil {
					t.Fatal(err, serr)
				}
			}
			clients := make([]net.PacketConn, 2)
			for i := range clients {
				if clients[i], err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
					t.Fatal(err)
				}
				defer clients[i].Close()
			}
			// To client 0: 20 of one size and a shorter one; to client 1
			// two; to client 0 one, and one too large to segment: four
			// messages.
			var ms []ipv4.Message
			var dest []int
			add := func(c, size int) {
				p := bytes.Repeat([]byte{byte(len(ms))}, size)
				ms = append(ms, ipv4.Message{Buffers: [][]byte{p}, Addr: clients[c].LocalAddr()})
				dest = append(dest, c)
			}
			for range 20 {
				add(0, 80)
			}
			add(0, 40)
			add(1, 80)
			add(1, 80)
			add(0, 80)
			add(0, 1300) // too large to segment
			n, err := b.WriteBatch(ms, 0)
			if err != nil || n != len(ms) {
				t.Fatalf("WriteBatch sent %d of %d: %v", n, len(ms), err)
			}
			if want := 4; !refused && b.count != want {
				t.Fatalf("%d messages, want %d", b.count, want)
			}
			if refused && b.gso {
				t.Fatal("segmentation still on after the kernel refused it")
			}
			buf := make([]byte, 2048)
			for i, m := range ms {
				c := clients[dest[i]]
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _, err := c.ReadFrom(buf)
				if err != nil || !bytes.Equal(buf[:n], m.Buffers[0]) {
					t.Fatalf("answer %d: got %d bytes starting %x (%v), want %d of %x", i, n, buf[:min(n, 1)], err, len(m.Buffers[0]), i)
				}
			}
		})
	}
}
