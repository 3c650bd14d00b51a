package signaling_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rtc/switchboard/signaling"
)

// BenchmarkRelayUnderFlood measures a healthy pair's relay latency, under
// the default limits, while eight connections flood the server: three with
// frames over the rate limit, three with pings, two with empty
// continuation frames. It takes a fixed sample, so run it once per count:
//
//	go test ./signaling -run '^$' -bench RelayUnderFlood -benchtime 1x -count 5
func BenchmarkRelayUnderFlood(b *testing.B) {
	for _, flooders := range []int{0, 8} {
		b.Run("flooders="+string(rune('0'+flooders)), func(b *testing.B) {
			for range b.N {
				benchFlood(b, flooders)
			}
		})
	}
}

// floodSamples offers at floodPace stay within the default frame limit
// (50/s): the healthy pair breaks no limit.
const (
	floodSamples = 200
	floodPace    = 40 // offers per second
)

func benchFlood(b *testing.B, flooders int) {
	url := benchServerWith(b, signaling.Config{})
	alice, bob := dialPeer(b, url, "healthy"), dialPeer(b, url, "healthy")
	readUntil(b, alice.ws, "peer-joined")

	// The flooders run in a process of their own, as an attacker's would:
	// in this one they would compete with the server for the scheduler.
	if flooders > 0 {
		watcher := floodWatcher(b, url)
		cmd := exec.Command(os.Args[0], "-test.run=^TestFloodProcess$")
		cmd.Env = append(os.Environ(), "SB_FLOOD_URL="+url, "SB_FLOODERS="+strconv.Itoa(flooders))
		cmd.Stderr = os.Stderr // its stdout ("PASS") would garble the benchmark lines
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { stdin.Close(); _ = cmd.Wait() }() // closing stdin stops it
		waitForFlood(b, watcher, flooders)
	}

	offer := offerFrame(b, bob.id, 1500)
	lat := make([]time.Duration, 0, floodSamples)
	_ = bob.ws.SetReadDeadline(time.Now().Add(benchDeadline))
	tick := time.NewTicker(time.Second / floodPace)
	b.ResetTimer()
	for range floodSamples {
		<-tick.C
		start := time.Now()
		if err := alice.ws.WriteMessage(websocket.TextMessage, offer); err != nil {
			b.Fatal(err)
		}
		_, msg, err := bob.ws.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		var f struct{ Type string }
		if json.Unmarshal(msg, &f) != nil || f.Type != "offer" {
			b.Fatalf("bob got %.100s", msg)
		}
	}
	b.StopTimer()
	tick.Stop()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// flood sends, until stop, frames over the rate limit (kind 0), pings
// (kind 1) or empty continuation frames (kind 2), as fast as the server
// takes them. Every loop is bounded by stop and by a write deadline.
func flood(ws *websocket.Conn, kind int, stop <-chan struct{}) {
	msg := []byte(`{"type":"message","data":"flood"}`)
	// A fragmented text message that never ends: header frame, then empty
	// continuation frames, masked with a zero key, written raw.
	contFrame := []byte{0x00, 0x80, 0, 0, 0, 0}
	if kind == 2 {
		_, _ = ws.NetConn().Write([]byte{0x01, 0x81, 0, 0, 0, 0, '{'})
	}
	batch := make([]byte, 0, 600*len(contFrame))
	for range 600 {
		batch = append(batch, contFrame...)
	}
	for n := 0; n < 10_000_000; n++ {
		select {
		case <-stop:
			return
		default:
		}
		_ = ws.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
		var err error
		switch kind {
		case 0:
			err = ws.WriteMessage(websocket.TextMessage, msg)
		case 1:
			err = ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second))
		case 2:
			_, err = ws.NetConn().Write(batch)
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue // the server reads us slowly: that is the point
			}
			return
		}
	}
}

// TestFloodProcess is the flooders' process for BenchmarkRelayUnderFlood;
// it does nothing unless the benchmark starts it. It floods until its
// stdin closes, bounded by a minute.
func TestFloodProcess(t *testing.T) {
	url := os.Getenv("SB_FLOOD_URL")
	if url == "" {
		return
	}
	n, _ := strconv.Atoi(os.Getenv("SB_FLOODERS"))
	stop := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stop) }()
	var wg sync.WaitGroup
	for i := range n {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close() // ends drain; deferred calls run after wg.Wait below
		context.AfterFunc(ctxFrom(stop), func() { ws.Close() })
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"join","room":"flood"}`))
		wg.Go(func() { flood(ws, i%3, stop) })
		wg.Go(func() { drain(ws) }) // so that pongs and errors do not back up
	}
	select {
	case <-stop:
	case <-time.After(time.Minute):
		t.Error("flood not stopped within a minute")
	}
	wg.Wait()
}

// floodWatcher joins the flooders' room before they come, so that it can
// count them in.
func floodWatcher(b *testing.B, url string) *websocket.Conn {
	b.Helper()
	w := dialPeer(b, url, "flood")
	return w.ws
}

// waitForFlood reads the watcher's room until n flooders have joined, then
// hangs up.
func waitForFlood(b *testing.B, ws *websocket.Conn, n int) {
	b.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(benchDeadline))
	for joined := 0; joined < n; {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			b.Fatalf("waiting for the flooders: %v", err)
		}
		var f struct{ Type string }
		if json.Unmarshal(msg, &f) == nil && f.Type == "peer-joined" {
			joined++
		}
	}
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
}

// ctxFrom is a context that ends when stop closes.
func ctxFrom(stop <-chan struct{}) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-stop; cancel() }()
	return ctx
}

func drain(ws *websocket.Conn) {
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
	}
}
