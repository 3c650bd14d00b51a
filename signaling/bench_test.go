package signaling_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rtc/switchboard/signaling"
)

// These benchmarks drive a real server over loopback with gorilla clients,
// so a CPU profile shows the whole server path: read, decode, route,
// Encode, write. The clients run in the same process and show up too;
// look at signaling.(*wsConn).readLoop and writeLoop for the server's
// share. scripts/bench.sh measures the same path across processes.
//
//	go test ./signaling -run '^$' -bench Relay -benchtime 5s -cpuprofile cpu.out
//	go tool pprof -top -cum cpu.out

// benchDeadline bounds any one benchmark round, so a server that stops
// relaying fails the benchmark instead of hanging it.
const benchDeadline = 2 * time.Minute

// benchServer runs a signaling server with every limit out of the way (all
// load comes from one address, flat out) on a 127.0.0.1:0 listener and
// returns its WebSocket URL.
func benchServer(b *testing.B) string {
	b.Helper()
	return benchServerWith(b, benchConfig())
}

// benchConfig has every limit out of the way.
func benchConfig() signaling.Config {
	return signaling.Config{
		RateLimit: 1e9, RateBurst: 1e9, ByteRate: 1 << 30, ByteBurst: 1 << 30,
		MaxSessionsPerAddr: 1 << 30, JoinRatePerAddr: 1e9, JoinBurstPerAddr: 1e9, RoomJoinRate: 1e9, RoomJoinBurst: 1e9,
	}
}

// benchServerWith runs a signaling server with cfg on 127.0.0.1:0.
func benchServerWith(b *testing.B, cfg signaling.Config) string {
	b.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	srv, err := signaling.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := errors.Join(hs.Shutdown(ctx), srv.Shutdown(ctx)); err != nil {
			b.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			b.Errorf("serve: %v", err)
		}
	})
	return "ws://" + ln.Addr().String() + "/v1/ws"
}

type benchPeer struct {
	ws *websocket.Conn
	id string
}

// dialPeer connects, reads the welcome and, when room is set, joins it.
func dialPeer(b *testing.B, url, room string) benchPeer {
	b.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(benchDeadline))
	welcome := readUntil(b, ws, "welcome")
	if room != "" {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"join","room":"`+room+`"}`)); err != nil {
			b.Fatal(err)
		}
		readUntil(b, ws, "joined")
	}
	return benchPeer{ws: ws, id: welcome.Session}
}

type benchFrame struct {
	Type    string `json:"type"`
	Session string `json:"session"`
	Code    string `json:"code"`
}

// readUntil skips room notices until a frame of type want arrives.
func readUntil(b *testing.B, ws *websocket.Conn, want string) benchFrame {
	b.Helper()
	for range 8 {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			b.Fatalf("waiting for %s: %v", want, err)
		}
		var f benchFrame
		if err := json.Unmarshal(msg, &f); err != nil {
			b.Fatalf("waiting for %s: %v in %q", want, err, msg)
		}
		if f.Type == want {
			return f
		}
		if f.Type == "error" {
			b.Fatalf("waiting for %s: error %s", want, f.Code)
		}
	}
	b.Fatalf("no %s frame", want)
	return benchFrame{}
}

// offerFrame is an offer to peer "to" whose JSON is about size bytes, with
// an SDP-like body whose CRLFs the server has to escape again.
func offerFrame(b *testing.B, to string, size int) []byte {
	b.Helper()
	var sdp strings.Builder
	sdp.WriteString("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	for i := 0; sdp.Len() < size-80; i++ {
		sdp.WriteString("a=candidate:" + strconv.Itoa(i) + " 1 udp 2122260223 192.0.2.1 5" + strconv.Itoa(1000+i) + " typ host\r\n")
	}
	frame, err := json.Marshal(map[string]string{"type": "offer", "to": to, "sdp": sdp.String()})
	if err != nil {
		b.Fatal(err)
	}
	return frame
}

// BenchmarkRelay measures offers relayed per second between pairs of
// peers, each sending 1.5 KB offers to its partner with up to window
// offers in flight. One op is one offer relayed end to end.
func BenchmarkRelay(b *testing.B) {
	for _, pairs := range []int{1, 16, 64} {
		b.Run("pairs="+strconv.Itoa(pairs), func(b *testing.B) {
			benchRelay(b, pairs, 16, 1500)
		})
	}
}

func benchRelay(b *testing.B, pairs, window, size int) {
	url := benchServer(b)
	benchRelayOn(b, url, url, pairs, window, size)
}

// benchRelayOn is benchRelay with each pair's peers on urlX and urlY.
func benchRelayOn(b *testing.B, urlX, urlY string, pairs, window, size int) {
	type direction struct {
		from, to benchPeer
		frame    []byte
		n        int
		slots    chan struct{}
	}
	var dirs []*direction
	for i := range pairs {
		room := "bench-" + strconv.Itoa(i)
		x, y := dialPeer(b, urlX, room), dialPeer(b, urlY, room)
		dirs = append(dirs,
			&direction{from: x, to: y, frame: offerFrame(b, y.id, size), slots: make(chan struct{}, window)},
			&direction{from: y, to: x, frame: offerFrame(b, x.id, size), slots: make(chan struct{}, window)})
	}
	for i, d := range dirs {
		d.n = b.N / len(dirs)
		if i < b.N%len(dirs) {
			d.n++
		}
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(dirs))
	for _, d := range dirs {
		wg.Go(func() {
			for range d.n {
				d.slots <- struct{}{}
				if err := d.from.ws.WriteMessage(websocket.TextMessage, d.frame); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			buf := make([]byte, 0, 4096)
			for got := 0; got < d.n; {
				_, r, err := d.to.ws.NextReader()
				if err != nil {
					errs <- err
					return
				}
				if buf, err = readAll(r, buf); err != nil {
					errs <- err
					return
				}
				if !bytes.HasPrefix(buf, []byte(`{"type":"offer"`)) {
					if bytes.HasPrefix(buf, []byte(`{"type":"error"`)) {
						errs <- errors.New(string(buf))
						return
					}
					continue // peer-joined
				}
				got++
				<-d.slots
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// readAll reads a message into buf without allocating once buf is large
// enough, so the clients add little to the allocation figures.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// BenchmarkConnect measures one client's dial, welcome, join and close.
func BenchmarkConnect(b *testing.B) {
	url := benchServer(b)
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		p := dialPeer(b, url, "connect-"+strconv.Itoa(i/2))
		_ = p.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		p.ws.Close()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
}
