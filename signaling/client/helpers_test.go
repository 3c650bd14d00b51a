package client_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/client"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor bounds every wait of a test.
const waitFor = 10 * time.Second

// testServer is a real signaling.Server on 127.0.0.1:0 behind a gate
// that can refuse WebSockets (as a proxy that does not forward upgrades)
// or every request.
type testServer struct {
	srv     *signaling.Server
	url     string // http://127.0.0.1:port
	noWS    atomic.Bool
	down    atomic.Bool
	wsDials atomic.Int32
}

func startServer(t testing.TB, cfg signaling.Config) *testServer {
	t.Helper()
	return startServerOn(t, listen(t), cfg)
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startServerOn serves cfg's server on ln until the test ends.
func startServerOn(t testing.TB, ln net.Listener, cfg signaling.Config) *testServer {
	t.Helper()
	srv, err := signaling.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, url: "http://" + ln.Addr().String()}
	inner := srv.Handler()
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/ws" {
				ts.wsDials.Add(1)
			}
			if ts.down.Load() || (ts.noWS.Load() && r.URL.Path == "/v1/ws") {
				http.Error(w, "gate closed", http.StatusBadGateway)
				return
			}
			inner.ServeHTTP(w, r)
		}),
		ConnState: srv.ConnState,
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http shutdown: %v", err)
		}
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("signaling shutdown: %v", err)
		}
		<-served
	})
	return ts
}

// proxy is a TCP forwarder to a server: a client dialed through it
// loses its network when the test says (cut), or cannot reach the server
// at all (down): real failures the server sees as such.
type proxy struct {
	url   string
	down  atomic.Bool
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{url: "http://" + ln.Addr().String(), conns: map[net.Conn]bool{}}
	addr := strings.TrimPrefix(target, "http://")
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				_ = in.Close()
				continue
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				_ = in.Close()
				continue
			}
			p.track(in, out)
			for _, pair := range [][2]net.Conn{{in, out}, {out, in}} {
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					_, _ = io.Copy(pair[0], pair[1])
					_ = pair[0].Close()
					_ = pair[1].Close()
				}()
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = true
	}
}

// cut closes every connection through the proxy, both ways.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// fastOptions retries quickly, so tests finish in time.
func fastOptions(transports ...client.Transport) client.Options {
	return client.Options{
		Transports: transports, BackoffBase: 20 * time.Millisecond, BackoffCap: 200 * time.Millisecond,
		ResumeBackoffCap: 200 * time.Millisecond, ConnectTimeout: 3 * time.Second, RequestTimeout: 5 * time.Second,
	}
}

func dial(t testing.TB, url string, opts client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := client.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// next returns the next event of type E, skipping others, within waitFor.
func next[E client.Event](t testing.TB, c *client.Client) E {
	t.Helper()
	return nextWhere(t, c, func(E) bool { return true })
}

// nextWhere returns the next event of type E that ok accepts.
func nextWhere[E client.Event](t testing.TB, c *client.Client, ok func(E) bool) E {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case ev, open := <-c.Events():
			if !open {
				var zero E
				t.Fatalf("events closed waiting for %T (%v)", zero, c.Err())
			}
			if e, is := ev.(E); is && ok(e) {
				return e
			}
		case <-timeout:
			var zero E
			t.Fatalf("no %T within %s", zero, waitFor)
		}
	}
}

func join(t testing.TB, c *client.Client, room string) *client.Joined {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	j, err := c.Join(ctx, room, client.JoinOptions{Name: fmt.Sprintf("peer-%s", c.Session()[:4])})
	if err != nil {
		t.Fatalf("join %s: %v", room, err)
	}
	return j
}
