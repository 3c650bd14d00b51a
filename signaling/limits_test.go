package signaling

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

func TestClientAddr(t *testing.T) {
	srv, err := New(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	cases := []struct {
		remote string
		header http.Header
		want   string
	}{
		{"203.0.113.9:5000", nil, "203.0.113.9"},
		{"203.0.113.9:5000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "203.0.113.9"}, // untrusted peer: header ignored
		{"10.1.2.3:5000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"10.1.2.3:5000", http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.1, 10.9.9.9"}}, "198.51.100.1"}, // spoofed first hop ignored
		{"10.1.2.3:5000", http.Header{"X-Forwarded-For": {"6.6.6.6", "198.51.100.1"}}, "198.51.100.1"},
		{"10.1.2.3:5000", http.Header{"X-Forwarded-For": {"junk, 10.9.9.9"}}, "10.9.9.9"},
		{"10.1.2.3:5000", nil, "10.1.2.3"},
		{"[::1]:5000", http.Header{"Forwarded": {`for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"`}}, "2001:db8:cafe::17"},
		{"[::1]:5000", http.Header{"Forwarded": {`for=192.0.2.60:1234`}, "X-Forwarded-For": {"6.6.6.6"}}, "192.0.2.60"},
		{"[::ffff:10.1.2.3]:5000", http.Header{"X-Forwarded-For": {"::ffff:198.51.100.7"}}, "198.51.100.7"},
	}
	for _, tc := range cases {
		r := &http.Request{RemoteAddr: tc.remote, Header: tc.header}
		if got := srv.clientAddr(r); got.String() != tc.want {
			t.Errorf("%s %v: got %s, want %s", tc.remote, tc.header, got, tc.want)
		}
	}
}

func FuzzForwardedFor(f *testing.F) {
	f.Add(`for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"`, "1.2.3.4, 5.6.7.8")
	f.Add(`for=unknown`, "")
	f.Add(`;;,=`, ",,")
	srv, err := New(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Shutdown(f.Context())
	f.Fuzz(func(t *testing.T, forwarded, xff string) {
		h := http.Header{}
		if forwarded != "" {
			h.Set("Forwarded", forwarded)
		}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		got := srv.clientAddr(&http.Request{RemoteAddr: "192.0.2.1:1", Header: h})
		if !got.IsValid() {
			t.Fatalf("no address for %q %q", forwarded, xff)
		}
	})
}

func TestSessionCaps(t *testing.T) {
	// 127.0.0.1 is a trusted proxy here, so that one test client can speak
	// for other addresses; without X-Forwarded-For it is the client.
	_, wsURL := startServer(t, Config{MaxSessionsPerAddr: 2, MaxSessions: 3,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	base := httpBase(wsURL)
	a := dial(t, wsURL, nil)
	dial(t, wsURL, nil)
	// A third session from 127.0.0.1 is refused before any upgrade, on
	// every channel.
	_, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third ws: %v %+v", err, resp)
	}
	var e wire.ErrorFrame
	if decodeJSON(resp, &e); e.Code != wire.CodeTooManySessions {
		t.Fatalf("third ws body %+v", e)
	}
	for _, path := range []string{"/v1/sse", "/v1/poll"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		if decodeJSON(resp, &e); resp.StatusCode != http.StatusTooManyRequests || e.Code != wire.CodeTooManySessions {
			t.Fatalf("%s: %d %+v", path, resp.StatusCode, e)
		}
	}
	// Resuming one's own session needs no new slot.
	a.ws.Close()
	dialRaw(t, wsURL+"?token="+a.welcome.str("token")+"&after=1").expect("resumed")

	// Server-wide: a third address fills the server; a fourth is refused
	// with 503.
	dial(t, wsURL, http.Header{"X-Forwarded-For": {"198.51.100.1"}})
	_, resp, err = websocket.DefaultDialer.Dial(wsURL, http.Header{"X-Forwarded-For": {"198.51.100.2"}})
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("fourth session: %v %+v", err, resp)
	}
	if decodeJSON(resp, &e); e.Code != wire.CodeServerFull {
		t.Fatalf("fourth session body %+v", e)
	}
}

// TestRoomScanningSlowed: a source that tries many room names gets the
// configured join rate and no more.
func TestRoomScanningSlowed(t *testing.T) {
	_, wsURL := startServer(t, Config{JoinRatePerAddr: 0.001, JoinBurstPerAddr: 5})
	c := dial(t, wsURL, nil)
	joined := 0
	for i := 0; i < 20; i++ {
		c.send(frame{"type": "join", "room": fmt.Sprintf("guess-%d", i), "id": i})
		switch f := c.read(); {
		case f.str("type") == "joined":
			joined++
			c.send(frame{"type": "leave"})
			c.expect("left")
		case f.str("code") != wire.CodeRateLimited:
			t.Fatalf("got %v", f)
		}
	}
	if joined != 5 {
		t.Fatalf("%d joins went through, want the burst of 5", joined)
	}
}

// TestRoomJoinRate: joins into one room are limited whoever makes them, so
// a join/leave flood cannot bury the members in membership events.
func TestRoomJoinRate(t *testing.T) {
	_, wsURL := startServer(t, Config{RoomJoinRate: 0.001, RoomJoinBurst: 3})
	member := dial(t, wsURL, nil)
	member.join("r")
	flooder := dial(t, wsURL, nil)
	refused := 0
	for i := 0; i < 6; i++ {
		flooder.send(frame{"type": "join", "room": "r"})
		if f := flooder.read(); f.str("type") == "joined" {
			flooder.send(frame{"type": "leave"})
			flooder.expect("left")
		} else if f.str("code") == wire.CodeRateLimited {
			refused++
		}
	}
	if refused != 4 { // the member's own join took one of the 3
		t.Fatalf("%d joins refused, want 4", refused)
	}
	flooder.join("other-room") // other rooms have their own budget
	for i := 0; i < 2; i++ {
		member.expect("peer-joined")
		member.expect("peer-left")
	}
	member.alive()
}

// TestHostAndOrigin: origins match on scheme, host and port; a Host that
// is no public URL's host, localhost or an IP is refused, which is what
// a DNS rebinding page would send.
func TestHostAndOrigin(t *testing.T) {
	_, wsURL := startServer(t, Config{PublicURLs: []string{"https://meet.example"}, AllowedOrigins: []string{"https://app.example"}})
	base := httpBase(wsURL)
	hostport := strings.TrimPrefix(base, "http://")
	_, port, _ := strings.Cut(hostport, ":")
	cases := []struct {
		host, origin string
		status       int
	}{
		{"", "", 200},
		{"", "http://" + hostport, 200},
		{"", "https://" + hostport, 403},              // same host and port, other scheme
		{"", "http://127.0.0.1:1", 403},               // other port
		{"", "https://meet.example", 200},             // a public URL
		{"", "https://app.example", 200},              // an allowed origin
		{"", "http://meet.example", 403},              // a public URL's host, other scheme
		{"meet.example", "https://meet.example", 200}, // served under its public name
		{"localhost:" + port, "http://localhost:" + port, 200},
		{"[::1]:" + port, "", 200},
		{"evil.example:" + port, "http://evil.example:" + port, 421}, // DNS rebinding
		{"evil.example", "", 421},
		{"meet.example.evil.example", "", 421},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/poll", nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e wire.ErrorFrame
		decodeJSON(resp, &e)
		if resp.StatusCode != tc.status {
			t.Errorf("Host %q Origin %q: %d %+v, want %d", tc.host, tc.origin, resp.StatusCode, e, tc.status)
		}
		if tc.status == 421 && e.Code != wire.CodeBadHost || tc.status == 403 && e.Code != wire.CodeBadOrigin {
			t.Errorf("Host %q Origin %q: body %+v", tc.host, tc.origin, e)
		}
	}
}
