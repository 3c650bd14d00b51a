package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/client"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TestJoinTokens: on a server with -join-secret a join needs a token;
// TokenFunc is asked for one per join; a bad one is refused as an
// *Error with code unauthorized, one for another room with forbidden.
func TestJoinTokens(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	ts := startServer(t, signaling.Config{JoinSecret: secret})
	c := dial(t, ts.url, fastOptions(client.WebSocket))
	ctx := context.Background()
	var pe *client.Error
	if _, err := c.Join(ctx, "closed", client.JoinOptions{}); !errors.As(err, &pe) || pe.Code != wire.CodeUnauthorized {
		t.Fatalf("join without token: %v, want unauthorized", err)
	}
	other, _ := signaling.MintJoinToken(secret, "elsewhere", time.Minute)
	if _, err := c.Join(ctx, "closed", client.JoinOptions{Token: other}); !errors.As(err, &pe) || pe.Code != wire.CodeForbidden {
		t.Fatalf("join with another room's token: %v, want forbidden", err)
	}
	var asked atomic.Int32
	j, err := c.Join(ctx, "closed", client.JoinOptions{TokenFunc: func(room string) (string, error) {
		asked.Add(1)
		return signaling.MintJoinToken(secret, room, time.Minute)
	}})
	if err != nil || j.Room != "closed" || asked.Load() != 1 {
		t.Fatalf("join with TokenFunc: %+v, %v (asked %d times)", j, err, asked.Load())
	}
}

// TestICEServers: ICEServers() is the latest list from welcome, joined
// or a renewal. A welcome with STUN only is not renewed; a joined that
// carries TURN credentials (a room's relay) replaces it and is renewed
// before the credentials expire, with an ICEServersChanged each time.
func TestICEServers(t *testing.T) {
	defer client.SetMinICERenewal(100 * time.Millisecond)()
	var minted atomic.Int32
	pool, err := signaling.NewTURNPool(signaling.TURNPoolConfig{
		Hosts: []string{"127.0.0.1:3478"},
		Mint: func(user string) (string, string, time.Duration) {
			return user, fmt.Sprintf("secret-%d", minted.Add(1)), time.Second
		},
		Check: func(context.Context, string) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ts := startServer(t, signaling.Config{TURNPool: pool})
	c := dial(t, ts.url, fastOptions(client.WebSocket))
	w := next[client.Welcome](t, c)
	if len(w.ICEServers) == 0 {
		t.Fatal("welcome without ICE servers")
	}
	j := join(t, c, "relayed")
	if cred(j.ICEServers) == "" {
		t.Fatalf("joined without the room's relay: %+v", j)
	}
	ch := next[client.ICEServersChanged](t, c)
	if ch.Room != "relayed" || cred(ch.ICEServers) != cred(j.ICEServers) {
		t.Fatalf("change for joined %+v", ch)
	}
	if got := c.ICEServers(); cred(got) != cred(j.ICEServers) {
		t.Fatalf("ICEServers() %+v after joined %+v", got, j.ICEServers)
	}
	renewed := next[client.ICEServersChanged](t, c)
	if cred(renewed.ICEServers) == cred(j.ICEServers) || cred(renewed.ICEServers) == "" {
		t.Fatalf("renewal gave credential %q", cred(renewed.ICEServers))
	}
	if got := c.ICEServers(); cred(got) != cred(renewed.ICEServers) {
		t.Fatalf("ICEServers() %+v after renewal %+v", got, renewed)
	}
}

// cred is the TURN credential of servers.
func cred(servers []client.ICEServer) string {
	for _, s := range servers {
		if s.Credential != "" {
			return s.Credential
		}
	}
	return ""
}

// TestOwnerOrigin: which owner nodes a client follows.
func TestOwnerOrigin(t *testing.T) {
	for _, tc := range []struct{ owner, home, want string }{
		{"https://node2.meet.example.com", "https://meet.example.com", "https://node2.meet.example.com"},
		{"wss://meet.example.com:8443/v1/ws", "https://meet.example.com", "https://meet.example.com:8443"},
		{"http://127.0.0.1:9000", "http://127.0.0.1:8000", "http://127.0.0.1:9000"},
		{"http://node2.meet.example.com", "https://meet.example.com", ""}, // downgrade
		{"https://evil.example.net", "https://meet.example.com", ""},
		{"https://notmeet.example.com", "https://meet.example.com", ""},
		{"https://meet.example.com", "https://meet.example.com", ""}, // already there
		{"ftp://meet.example.com", "https://meet.example.com", ""},
		{"", "https://meet.example.com", ""},
	} {
		if got := client.OwnerOrigin(tc.owner, tc.home); got != tc.want {
			t.Errorf("owner %q from %q: %q, want %q", tc.owner, tc.home, got, tc.want)
		}
	}
}

// TestDialRefusals: a bad URL or options fail at once; a server that
// never answers fails when ctx ends, naming what went wrong.
func TestDialRefusals(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"ftp://x", "no-scheme", "http://"} {
		if _, err := client.Dial(ctx, u, client.Options{}); err == nil {
			t.Errorf("Dial(%q) worked", u)
		}
	}
	if _, err := client.Dial(ctx, "http://127.0.0.1:1", client.Options{Transports: []client.Transport{"carrier-pigeon"}}); err == nil {
		t.Error("unknown transport accepted")
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	p := startProxy(t, "http://127.0.0.1:1")
	p.down.Store(true)
	_, err := client.Dial(short, p.url, fastOptions())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last:") {
		t.Fatalf("dial of a dead server: %v", err)
	}
}

// TestDialAttempts: with DialAttempts, Dial gives up after that many
// failed attempts and says why.
func TestDialAttempts(t *testing.T) {
	ts := startServer(t, signaling.Config{})
	ts.noWS.Store(true)
	opts := fastOptions(client.WebSocket)
	opts.DialAttempts = 2
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	start := time.Now()
	_, err := client.Dial(ctx, ts.url, opts)
	if err == nil || !strings.Contains(err.Error(), "502") || time.Since(start) > waitFor/2 {
		t.Fatalf("dial of a refused WebSocket: %v after %s", err, time.Since(start))
	}
	if n := ts.wsDials.Load(); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
}
