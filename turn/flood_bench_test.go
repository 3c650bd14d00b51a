//go:build linux

package turn

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/turn/v4"
	"golang.org/x/net/ipv4"
)

// BenchmarkRelayUnderJunkFlood measures a relayed pair's round trip (client
// → relay → peer → relay → client, ChannelData on the fast path) while
// another process floods the relay's UDP port with junk: up to
// floodPackets datagrams within floodDuration, as fast as it can send
// them (issue 18's red team: 1 M in 5 s). The relay listens as
// `switchboard` does, one SO_REUSEPORT socket per core. Run it once per
// count:
//
//	go test ./turn -run '^$' -bench RelayUnderJunkFlood -benchtime 1x -count 3
//
// sockets=1 puts the pair and every flooder on one socket; with 2 the
// kernel's SO_REUSEPORT hash decides how many flooders share the pair's.
// cpu-ms is this process's CPU over the 5 s (the relay, and the pair's
// two small loops), not the flooder's.
func BenchmarkRelayUnderJunkFlood(b *testing.B) {
	for _, tc := range []struct {
		flood   bool
		sockets int
	}{{false, 2}, {true, 1}, {true, 2}} {
		b.Run(fmt.Sprintf("flood=%v/sockets=%d", tc.flood, tc.sockets), func(b *testing.B) {
			for range b.N {
				benchJunkFlood(b, tc.flood, tc.sockets)
			}
		})
	}
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const (
	floodPackets  = 1_000_000
	floodDuration = 5 * time.Second
	probeEvery    = 25 * time.Millisecond // 200 probes in the flood's 5 s
	probeLost     = time.Second           // a probe unanswered this long is lost
)

func benchJunkFlood(b *testing.B, flood bool, sockets int) {
	log := slog.New(slog.DiscardHandler)
	udp, err := ListenUDP("udp4", "127.0.0.1:0", sockets, defaultSocketBuffer, log)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewServer(Config{UDP: udp, PublicIP: net.IPv4(127, 0, 0, 1), RelayBindAddress: "127.0.0.1",
		RelayPortMin: 40000, RelayPortMax: 60000, Secrets: [][]byte{[]byte(testSecret)},
		AllowLoopbackPeers: true, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	server := udp[0].LocalAddr().String()

	// The pair: a TURN client and a peer that echoes what reaches it.
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	user, pass, _ := srv.Credentials("bench")
	client, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: user, Password: pass, RTO: 200 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		b.Fatal(err)
	}
	relay, err := client.Allocate()
	if err != nil {
		b.Fatal(err)
	}
	defer relay.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := peer.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = peer.WriteTo(buf[:n], from)
		}
	}()
	echoes := make(chan uint64, 64)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := relay.ReadFrom(buf)
			if err != nil {
				close(echoes)
				return
			}
			if n >= 8 {
				echoes <- binary.BigEndian.Uint64(buf)
			}
		}
	}()
	probe := func(seq uint64) (time.Duration, bool) {
		msg := make([]byte, 100)
		binary.BigEndian.PutUint64(msg, seq)
		start := time.Now()
		if _, err := relay.WriteTo(msg, peer.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		timeout := time.NewTimer(probeLost)
		defer timeout.Stop()
		for {
			select {
			case got, ok := <-echoes:
				if !ok {
					b.Fatal("relay connection closed")
				}
				if got == seq {
					return time.Since(start), true
				}
			case <-timeout.C:
				return 0, false
			}
		}
	}
	// Warm up until 20 probes in a row crossed as ChannelData on the fast
	// path: pion's client sends its first datagrams as Send indications
	// and binds the channel in the background, and only the fast path's
	// count shows when that is done. Each probe waits for its echo, so the
	// loop is paced by the round trip; bounded in time and count.
	if srv.fast == nil {
		b.Fatal("no relay fast path")
	}
	seq := uint64(0)
	deadline := time.Now().Add(5 * time.Second)
	for warm := 0; warm < 20; {
		if seq++; seq > 10_000 || time.Now().After(deadline) {
			b.Fatalf("the pair never relayed 20 probes in a row on the fast path (%d probes, %d warm)", seq-1, warm)
		}
		before := srv.fast.toPeers.Load()
		if _, ok := probe(seq); ok && srv.fast.toPeers.Load() > before {
			warm++
		} else {
			warm = 0
		}
	}

	var floodEnd <-chan struct{}
	if flood {
		floodEnd = startJunkFlood(b, server)
	}
	var rtts []time.Duration
	lost := 0
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	b.ResetTimer()
	cpuStart := cpuTime(b)
	for i := 0; i < int(floodDuration/probeEvery); i++ {
		<-tick.C
		seq++
		if rtt, ok := probe(seq); ok {
			rtts = append(rtts, rtt)
		} else {
			lost++
		}
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpuStart
	if floodEnd != nil {
		<-floodEnd
	}
	slices.Sort(rtts)
	q := func(p float64) float64 {
		if len(rtts) == 0 {
			return 0
		}
		return float64(rtts[min(len(rtts)-1, int(p*float64(len(rtts))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(len(rtts)+lost), "probes")
	b.ReportMetric(float64(cpu.Milliseconds()), "cpu-ms")
}

// startJunkFlood runs the flooder in a process of its own, as an
// attacker's would, and returns when it sends; the channel closes when it
// has finished, having printed what it sent.
func startJunkFlood(b *testing.B, server string) <-chan struct{} {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestJunkFloodProcess$")
	cmd.Env = append(os.Environ(), "SB_JUNK_FLOOD_ADDR="+server)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "flooding" {
		b.Fatalf("flooder did not start: %q", lines.Text())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for lines.Scan() {
			if t := lines.Text(); len(t) > 5 && t[:5] == "sent " {
				b.Log(t)
				stdin.Close() // lets the flooder exit
			}
		}
		stdin.Close()
		_ = cmd.Wait()
	}()
	b.Cleanup(func() { stdin.Close(); <-done }) // closing stdin stops it
	return done
}

// junkKinds are what the flood sends, in turn: bytes no TURN client sends,
// ChannelData framing on a channel nobody bound, and a STUN header with an
// indication nobody asked for.
func junk(rng *rand.Rand, kind int, buf []byte) []byte {
	n := 40 + rng.IntN(160)
	pkt := buf[:n]
	for i := range pkt {
		pkt[i] = byte(rng.Uint32())
	}
	switch kind % 4 {
	case 0, 1: // random: about a quarter of these start like ChannelData
	case 2:
		binary.BigEndian.PutUint16(pkt, 0x4000+uint16(rng.IntN(0x1000)))
		binary.BigEndian.PutUint16(pkt[2:], uint16(n-4))
	case 3:
		n -= n % 4
		pkt = pkt[:n]
		binary.BigEndian.PutUint16(pkt, 0x0016) // Send indication
		binary.BigEndian.PutUint16(pkt[2:], uint16(n-20))
		binary.BigEndian.PutUint32(pkt[4:], 0x2112A442)
	}
	return pkt
}

// TestJunkFloodProcess is the flooder of BenchmarkRelayUnderJunkFlood;
// run alone it does nothing. It sends at most floodPackets datagrams to
// a loopback address, within floodDuration, and stops early when its
// stdin closes.
func TestJunkFloodProcess(t *testing.T) {
	addr := os.Getenv("SB_JUNK_FLOOD_ADDR")
	if addr == "" {
		return
	}
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil || !to.IP.IsLoopback() {
		t.Fatalf("flood target %q: loopback only (%v)", addr, err)
	}
	var stop atomic.Bool
	var reader sync.WaitGroup
	reader.Add(1)
	go func() { defer reader.Done(); _, _ = io.Copy(io.Discard, os.Stdin); stop.Store(true) }()
	defer reader.Wait() // the benchmark closes stdin once it has read the figures
	const senders, batch = 4, 64
	var sent atomic.Int64
	deadline := time.Now().Add(floodDuration)
	fmt.Println("flooding")
	var wg sync.WaitGroup
	for i := range senders {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pc := ipv4.NewPacketConn(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 18))
			ms := make([]ipv4.Message, batch)
			for j := range ms {
				ms[j].Buffers = [][]byte{junk(rng, j, make([]byte, 200))}
				ms[j].Addr = to
			}
			// Paced to floodPackets over floodDuration, each sender its share.
			perSecond := float64(floodPackets) / floodDuration.Seconds() / senders
			start, mine := time.Now(), 0
			for !stop.Load() && time.Now().Before(deadline) && sent.Load() < floodPackets {
				if ahead := float64(mine) - time.Since(start).Seconds()*perSecond; ahead > 0 {
					time.Sleep(time.Duration(ahead / perSecond * float64(time.Second))) // pacing, not synchronisation
					continue
				}
				n, err := pc.WriteBatch(ms, 0)
				if err != nil {
					continue // a full socket buffer: try again
				}
				mine += n
				sent.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	took := floodDuration - time.Until(deadline)
	fmt.Printf("sent %d junk datagrams in %v\n", sent.Load(), took.Round(time.Millisecond))
}
