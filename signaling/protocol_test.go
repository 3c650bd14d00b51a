package signaling

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TestErrorCodes sends each kind of bad request over a real connection and
// checks the code, the echoed id, that the connection stays up, and that
// the other peer in the room saw nothing.
func TestErrorCodes(t *testing.T) {
	_, url := startServer(t, Config{MaxPeersPerRoom: 2})
	alice, bob := dial(t, url, nil), dial(t, url, nil)
	alice.join("room-a")
	bob.join("room-a")
	alice.expect("peer-joined")
	outsider := dial(t, url, nil) // never joins
	foreigner := dial(t, url, nil)
	foreigner.join("room-b")

	long := strings.Repeat("r", 65)
	cases := []struct {
		name  string
		from  *client
		frame string
		code  string
	}{
		{"not json", alice, `{"type":`, wire.CodeBadJSON},
		{"array", alice, `[1,2]`, wire.CodeBadJSON},
		{"invalid utf-8", alice, "{\"type\":\"message\",\"data\":\"\xff\",\"id\":\"r1\"}", wire.CodeBadJSON},
		{"wrong field type", alice, `{"type":"offer","to":"x","sdp":5,"id":"r1"}`, wire.CodeBadJSON},
		{"object id", alice, `{"type":"ping","id":{"a":1}}`, wire.CodeBadJSON},
		{"candidate not object", alice, `{"type":"candidate","to":"x","candidate":"a=1","id":"r1"}`, wire.CodeBadJSON},
		{"unknown type", alice, `{"type":"subscribe","id":"r1"}`, wire.CodeUnknownType},
		{"no type", alice, `{"room":"x","id":"r1"}`, wire.CodeMissingField},
		{"join without room", outsider, `{"type":"join","id":"r1"}`, wire.CodeMissingField},
		{"offer without to", alice, `{"type":"offer","sdp":"v=0","id":"r1"}`, wire.CodeMissingField},
		{"answer without sdp", alice, `{"type":"answer","to":"x","id":"r1"}`, wire.CodeMissingField},
		{"candidate without candidate", alice, `{"type":"candidate","to":"x","id":"r1"}`, wire.CodeMissingField},
		{"message without data", alice, `{"type":"message","id":"r1"}`, wire.CodeMissingField},
		{"room with slash", outsider, `{"type":"join","room":"a/b","id":"r1"}`, wire.CodeBadRoom},
		{"room too long", outsider, `{"type":"join","room":"` + long + `","id":"r1"}`, wire.CodeBadRoom},
		{"name too long", outsider, `{"type":"join","room":"ok","name":"` + long + `","id":"r1"}`, wire.CodeBadName},
		{"name with control char", outsider, `{"type":"join","room":"ok","name":"a\u0007","id":"r1"}`, wire.CodeBadName},
		{"join twice", alice, `{"type":"join","room":"room-c","id":"r1"}`, wire.CodeAlreadyInRoom},
		{"offer before join", outsider, `{"type":"offer","to":"x","sdp":"v=0","id":"r1"}`, wire.CodeNotInRoom},
		{"leave before join", outsider, `{"type":"leave","id":"r1"}`, wire.CodeNotInRoom},
		{"unknown peer", alice, `{"type":"offer","to":"nobody","sdp":"v=0","id":"r1"}`, wire.CodeUnknownPeer},
		{"to self", alice, `{"type":"offer","to":"` + alice.id + `","sdp":"v=0","id":"r1"}`, wire.CodeUnknownPeer},
		{"peer in another room", alice, `{"type":"message","to":"` + foreigner.id + `","data":1,"id":"r1"}`, wire.CodeUnknownPeer},
		{"room full", outsider, `{"type":"join","room":"room-a","id":"r1"}`, wire.CodeRoomFull},
		{"numeric id", alice, `{"type":"nope","id":42}`, wire.CodeUnknownType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.from.t = t
			tc.from.sendRaw(tc.frame)
			f := tc.from.expect("error")
			if f.str("code") != tc.code || f.str("message") == "" {
				t.Fatalf("got %v, want code %q with a message", f, tc.code)
			}
			if strings.Contains(tc.frame, `"id":"r1"`) && f.str("re") != "r1" {
				t.Errorf("error %v does not echo id r1", f)
			}
			if strings.Contains(tc.frame, `"id":42`) && f["re"] != float64(42) {
				t.Errorf("error %v does not echo numeric id", f)
			}
			tc.from.alive()
		})
	}
	// Nothing leaked to the others: their next frame answers their ping.
	for _, c := range []*client{alice, bob, outsider, foreigner} {
		c.t = t
		c.alive()
	}
}

func TestBinaryFrameRefused(t *testing.T) {
	_, url := startServer(t, Config{})
	c := dial(t, url, nil)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if f := c.expect("error"); f.str("code") != wire.CodeBadJSON {
		t.Fatalf("got %v", f)
	}
	c.alive()
}

func TestOversizeFrameCloses1009(t *testing.T) {
	srv, url := startServer(t, Config{MaxMessageSize: 4096})
	big, peer := dial(t, url, nil), dial(t, url, nil)
	big.join("r")
	peer.join("r")
	big.expect("peer-joined")
	big.send(frame{"type": "message", "data": strings.Repeat("x", 4096)})
	if ce := big.expectClose(); ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", ce.Code)
	}
	if f := peer.expect("peer-left"); f["peer"].(map[string]any)["id"] != big.id || f.str("reason") != wire.PeerLeftLost {
		t.Fatalf("got %v", f)
	}
	peer.alive()
	// One frame, as browsers send it, is counted like a fragmented one.
	if n := testutil.ToFloat64(srv.metrics.errors.WithLabelValues(wire.CodeTooLarge)); n != 1 {
		t.Fatalf("errors_total{code=too_large} = %v", n)
	}
}

// TestNonUTF8IDNotEchoed: an id that is not valid UTF-8 is never echoed
// as re, which would make a browser drop its WebSocket.
func TestNonUTF8IDNotEchoed(t *testing.T) {
	_, url := startServer(t, Config{})
	c := dial(t, url, nil)
	c.sendRaw("{\"type\":\"ping\",\"id\":\"\xff\"}")
	f := c.expect("error")
	if _, has := f["re"]; has || f.str("code") != wire.CodeBadJSON {
		t.Fatalf("got %v", f)
	}
}

func TestRateLimit(t *testing.T) {
	// A bucket of 10 that practically never refills: join takes one token,
	// so exactly 9 of the flood pass. The rest are dropped unread, and the
	// flooder hears of it once, not once a frame.
	_, url := startServer(t, Config{RateLimit: 0.001, RateBurst: 10})
	flooder, peer := dial(t, url, nil), dial(t, url, nil)
	flooder.join("r")
	peer.join("r")
	flooder.expect("peer-joined")
	const sent, admitted = 40, 9
	for i := 0; i < sent; i++ {
		flooder.send(frame{"type": "message", "to": peer.id, "data": i, "id": i})
	}
	if f := flooder.expect("error"); f.str("code") != wire.CodeRateLimited || f["re"] != nil {
		t.Fatalf("got %v, want one rate_limited without re", f)
	}
	for i := 0; i < admitted; i++ {
		if f := peer.expect("message"); f["data"] != float64(i) {
			t.Fatalf("peer got %v, want data %d", f, i)
		}
	}
	peer.alive() // the flood cost the peer nothing
	// Nothing else reached the flooder: the next frame it gets is the
	// peer's, sent after the flood.
	peer.send(frame{"type": "message", "to": flooder.id, "data": "after"})
	if f := flooder.expect("message"); f["data"] != "after" {
		t.Fatalf("flooder got %v", f)
	}
}

func TestOrigin(t *testing.T) {
	_, url := startServer(t, Config{AllowedOrigins: []string{"https://app.example"}})
	host := strings.TrimPrefix(strings.TrimSuffix(url, "/v1/ws"), "ws://")
	cases := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://" + host, true},
		{"https://app.example", true},
		{"https://evil.example", false},
		{"null", false},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(url, h)
		if tc.ok {
			if err != nil {
				t.Errorf("origin %q refused: %v", tc.origin, err)
				continue
			}
			ws.Close()
			continue
		}
		if err == nil {
			ws.Close()
			t.Errorf("origin %q accepted", tc.origin)
			continue
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: status %d, want 403", tc.origin, resp.StatusCode)
		}
		var body wire.ErrorFrame
		if err := decodeJSON(resp, &body); err != nil || body.Code != wire.CodeBadOrigin {
			t.Errorf("origin %q: body %+v (%v), want code bad_origin", tc.origin, body, err)
		}
	}
}

func TestOriginWildcard(t *testing.T) {
	_, url := startServer(t, Config{AllowedOrigins: []string{"*"}})
	c := dial(t, url, http.Header{"Origin": {"https://anywhere.example"}})
	c.alive()
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{MaxMessageSize: 10},
		{MaxPeersPerRoom: 1},
		{RateLimit: -1},
		{PingInterval: -1},
		{PingInterval: time.Millisecond},
		{MaxMessageSize: 1 << 20, ReplayBytes: 1024},
		{AllowedOrigins: []string{"evil.example"}},
		{AllowedOrigins: []string{"https://a.example/path"}},
	}
	for _, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
