package signaling

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
	"golang.org/x/time/rate"
)

// TestFairnessUnderDefaults: a member that sends flat out within every
// default limit cannot get a member reading at 256 KB/s disconnected.
// Without a byte budget the frame limit alone lets it send 50 frames of
// 60 KiB a second, and the reader is cut with 1008 within a second.
func TestFairnessUnderDefaults(t *testing.T) {
	srv, url := startServer(t, Config{})
	sender := dial(t, url, nil)
	reader := dialThrottled(t, url, 256_000)
	sender.join("r")
	reader.join("r")
	sender.expect("peer-joined")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var got atomic.Int32
	wg.Go(func() { // flat out, bounded in count and by stop
		payload := []byte(`{"type":"message","data":"` + strings.Repeat("x", 60<<10) + `"}`)
		for i := 0; i < 1000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if sender.ws.WriteMessage(websocket.TextMessage, payload) != nil {
				return
			}
		}
	})
	wg.Go(func() {
		for {
			if _, _, err := reader.ws.ReadMessage(); err != nil {
				return
			}
			got.Add(1)
		}
	})
	time.Sleep(3 * time.Second) // the scenario: 3 s of load the reader must survive (no event marks "not cut"), not a synchronisation
	sess := srv.lookup(reader.welcome.str("token"))
	attached := sess != nil && sess.attached() != nil
	close(stop)
	sender.ws.Close()
	reader.ws.Close()
	wg.Wait()
	if !attached || testutil.ToFloat64(srv.metrics.errors.WithLabelValues(wire.CodeSlowConsumer)) != 0 {
		t.Fatalf("the reader was cut (attached %v) after %d messages", attached, got.Load())
	}
	if got.Load() == 0 {
		t.Fatal("the reader got nothing")
	}
	t.Logf("the reader kept up: %d messages of 60 KiB in 3 s", got.Load())
}

// dialThrottled connects a client that reads at most bytesPerSecond.
func dialThrottled(t *testing.T, url string, bytesPerSecond int) *client {
	t.Helper()
	d := *websocket.DefaultDialer
	lim := rate.NewLimiter(rate.Limit(bytesPerSecond), 64<<10)
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &throttledConn{Conn: conn, lim: lim}, nil
	}
	return dialWith(t, &d, url, nil)
}

type throttledConn struct {
	net.Conn
	lim *rate.Limiter
}

func (c *throttledConn) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		p = p[:4096]
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		_ = c.lim.WaitN(context.Background(), n)
	}
	return n, err
}

// TestPingsCountAsFrames: pings take frame tokens, and pings over the
// limit get no pong.
func TestPingsCountAsFrames(t *testing.T) {
	_, url := startServer(t, Config{RateLimit: 0.001, RateBurst: 10})
	flooder, peer := dial(t, url, nil), dial(t, url, nil)
	flooder.join("r")
	peer.join("r")
	flooder.expect("peer-joined")
	var pongs atomic.Int32
	flooder.ws.SetPongHandler(func(string) error { pongs.Add(1); return nil })
	for i := 0; i < 30; i++ {
		if err := flooder.ws.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(waitFor)); err != nil {
			t.Fatal(err)
		}
	}
	// The bucket (10, one taken by join) is spent: a message is refused.
	flooder.send(frame{"type": "message", "data": "over"})
	if f := flooder.expect("error"); f.str("code") != wire.CodeRateLimited {
		t.Fatalf("got %v", f)
	}
	if n := pongs.Load(); n > 9 {
		t.Fatalf("%d pongs for 30 pings with 9 frame tokens left", n)
	}
	peer.alive() // and nothing reached the peer
}

// TestEmptyContinuationFramesMetered: frames that carry nothing still
// spend the byte budget, before the WebSocket library parses them.
func TestEmptyContinuationFramesMetered(t *testing.T) {
	_, url := startServer(t, Config{MaxMessageSize: 1024, ByteRate: 2048, ByteBurst: 1024})
	c := dial(t, url, nil)
	conn := c.ws.NetConn()
	masked := func(fin bool, opcode byte, payload string) []byte {
		b0 := opcode
		if fin {
			b0 |= 0x80
		}
		f := []byte{b0, 0x80 | byte(len(payload)), 0, 0, 0, 0} // mask key 0: payload as is
		return append(f, payload...)
	}
	var raw []byte
	raw = append(raw, masked(false, websocket.TextMessage, `{"type":"ping",`)...)
	for i := 0; i < 1000; i++ { // 6 KB of frames with nothing in them
		raw = append(raw, masked(false, 0, "")...)
	}
	raw = append(raw, masked(true, 0, `"id":"x"}`)...)
	start := time.Now()
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	if f := c.expect("pong"); f.str("re") != "x" {
		t.Fatalf("got %v", f)
	}
	// 6 KB at 2 KiB/s with 1 KiB of burst: about 2.5 s.
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Fatalf("6 KB of empty frames read in %v: not metered", d)
	}
}

// TestSendBodyLimits: a POST body that never finishes is answered 408
// within BodyTimeout; bodies past the byte budget are refused unread.
func TestSendBodyLimits(t *testing.T) {
	_, wsURL := startServer(t, Config{BodyTimeout: 200 * time.Millisecond, MaxMessageSize: 1024, ByteRate: 1024, ByteBurst: 1024})
	base := httpBase(wsURL)
	_, evs := poll(t, base, "")
	token := evs[0].str("token")

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_, _ = conn.Write([]byte("POST /v1/send HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
		"\r\nContent-Length: 100\r\n\r\n{\"type\":"))
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	buf := make([]byte, 512)
	n, _ := conn.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 408") || !strings.Contains(string(buf[:n]), wire.CodeTimeout) {
		t.Fatalf("held body answered %q", buf[:n])
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("held body answered after %v", d)
	}

	msg := `{"type":"ping","pad":"` + strings.Repeat("x", 800) + `"}`
	if status, ans := post(t, base, token, msg); status != 200 {
		t.Fatalf("first: %d %s", status, ans)
	}
	if status, ans := post(t, base, token, msg); status != 429 || !strings.Contains(string(ans), wire.CodeRateLimited) {
		t.Fatalf("second, over the byte budget: %d %s", status, ans)
	}
}
