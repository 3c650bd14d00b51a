package signaling

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
		{"not json", alice, `{"type":`, CodeBadJSON},
		{"array", alice, `[1,2]`, CodeBadJSON},
		{"invalid utf-8", alice, "{\"type\":\"message\",\"data\":\"\xff\",\"id\":\"r1\"}", CodeBadJSON},
		{"wrong field type", alice, `{"type":"offer","to":"x","sdp":5,"id":"r1"}`, CodeBadJSON},
		{"object id", alice, `{"type":"ping","id":{"a":1}}`, CodeBadJSON},
		{"candidate not object", alice, `{"type":"candidate","to":"x","candidate":"a=1","id":"r1"}`, CodeBadJSON},
		{"unknown type", alice, `{"type":"subscribe","id":"r1"}`, CodeUnknownType},
		{"no type", alice, `{"room":"x","id":"r1"}`, CodeMissingField},
		{"join without room", outsider, `{"type":"join","id":"r1"}`, CodeMissingField},
		{"offer without to", alice, `{"type":"offer","sdp":"v=0","id":"r1"}`, CodeMissingField},
		{"answer without sdp", alice, `{"type":"answer","to":"x","id":"r1"}`, CodeMissingField},
		{"candidate without candidate", alice, `{"type":"candidate","to":"x","id":"r1"}`, CodeMissingField},
		{"message without data", alice, `{"type":"message","id":"r1"}`, CodeMissingField},
		{"room with slash", outsider, `{"type":"join","room":"a/b","id":"r1"}`, CodeBadRoom},
		{"room too long", outsider, `{"type":"join","room":"` + long + `","id":"r1"}`, CodeBadRoom},
		{"name too long", outsider, `{"type":"join","room":"ok","name":"` + long + `","id":"r1"}`, CodeBadName},
		{"name with control char", outsider, `{"type":"join","room":"ok","name":"a\u0007","id":"r1"}`, CodeBadName},
		{"join twice", alice, `{"type":"join","room":"room-c","id":"r1"}`, CodeAlreadyInRoom},
		{"offer before join", outsider, `{"type":"offer","to":"x","sdp":"v=0","id":"r1"}`, CodeNotInRoom},
		{"leave before join", outsider, `{"type":"leave","id":"r1"}`, CodeNotInRoom},
		{"unknown peer", alice, `{"type":"offer","to":"nobody","sdp":"v=0","id":"r1"}`, CodeUnknownPeer},
		{"to self", alice, `{"type":"offer","to":"` + alice.id + `","sdp":"v=0","id":"r1"}`, CodeUnknownPeer},
		{"peer in another room", alice, `{"type":"message","to":"` + foreigner.id + `","data":1,"id":"r1"}`, CodeUnknownPeer},
		{"room full", outsider, `{"type":"join","room":"room-a","id":"r1"}`, CodeRoomFull},
		{"numeric id", alice, `{"type":"nope","id":42}`, CodeUnknownType},
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
	if f := c.expect("error"); f.str("code") != CodeBadJSON {
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
	if f := peer.expect("peer-left"); f["peer"].(map[string]any)["id"] != big.id {
		t.Fatalf("got %v", f)
	}
	peer.alive()
	// One frame, as browsers send it, is counted like a fragmented one.
	if n := testutil.ToFloat64(srv.metrics.errors.WithLabelValues(CodeTooLarge)); n != 1 {
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
	if _, has := f["re"]; has || f.str("code") != CodeBadJSON {
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
	if f := flooder.expect("error"); f.str("code") != CodeRateLimited || f["re"] != nil {
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
		var body errorFrame
		if err := decodeJSON(resp, &body); err != nil || body.Code != CodeBadOrigin {
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

// TestSkipPlain checks the eight-bytes-at-a-time scan against the table,
// for every byte that stops it at every offset among plain ASCII.
func TestSkipPlain(t *testing.T) {
	for _, fill := range []string{"abcdefghijklmnopqrstuvwxyz0123", "~\x7f!#[]{}:,aaaaaaa"} {
		for c := 0; c < 256; c++ {
			if plainASCII[c] {
				continue
			}
			for at := 0; at <= len(fill); at++ {
				b := []byte(fill[:at] + string([]byte{byte(c)}) + fill[at:])
				s := jsonScanner{b: b}
				s.skipPlain()
				if s.i != at {
					t.Fatalf("byte %#x at %d of %q: stopped at %d", c, at, b, s.i)
				}
			}
		}
		s := jsonScanner{b: []byte(fill)}
		if s.skipPlain(); s.i != len(fill) {
			t.Fatalf("%q: stopped at %d", fill, s.i)
		}
	}
}

// BenchmarkDecodeRelayFast decodes a 1.5 KB offer like sbload's.
func BenchmarkDecodeRelayFast(b *testing.B) {
	sdp := strings.Repeat(`a=rtcp-fb:96 nack pli\r\na=fmtp:97 apt=96\r\n`, 36)
	frame := []byte(`{"type":"offer","to":"PQ4TZ2M7ZJQX6XN3EBK6UJ2Y4Q","sdp":"v=0\r\n` + sdp + `"}`)
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		var req request
		if !decodeRelayFast(frame, &req) {
			b.Fatal("refused")
		}
	}
}

// TestScanStringUTF8 checks what str accepts besides plain ASCII: UTF-8
// (checked there, since decodeRelayFast no longer checks the whole frame)
// and escapes, the CRLF pair included, at every offset.
func TestScanStringUTF8(t *testing.T) {
	pad := "ghijklmopqsvwxyz" // no letter that makes an escape after a backslash
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"é", true}, {"€", true}, {"😀", true}, {"\u00ff\u07ff\uffff", true},
		{`\r\n`, true}, {`\r\n\r\n`, true}, {`\r\t`, true}, {`\n\r`, true}, {`\u00e9\r\n`, true},
		{"\xff", false}, {"\xe2\x82", false}, {"\xed\xa0\x80", false}, {"\xc0\xaf", false}, {"\x80", false},
		{`\r\x`, false}, {`\r\`, false}, {"\x1f", false},
	} {
		for at := 0; at <= len(pad); at++ {
			b := []byte(`"` + pad[:at] + tc.in + pad[at:] + `"`)
			s := jsonScanner{b: b}
			if _, ok := s.str(); ok != tc.ok || ok && s.i != len(b) {
				t.Fatalf("%q: ok %v, want %v (ended at %d)", b, ok, tc.ok, s.i)
			}
		}
	}
	if decodeRelayFast([]byte("{\"type\":\"offer\",\"to\":\"x\",\"sdp\":\"v=0\xff\"}"), &request{}) {
		t.Fatal("fast path took invalid UTF-8")
	}
}

// TestAppendJSONString compares the quoting with encoding/json's, around
// the eight-byte fast path's edges.
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "a", "PQ4TZ2M7ZJQX6XN3EBK6UJ2Y4Q", "abcdefgh", "abcdefg\"", "abcdefgh\\", "é", "abcdefghé",
		"tab\there", "\x00", "abcdefghij\x1f", "<>&", "\u2028"} {
		want, _ := json.Marshal(s)
		var got any
		if err := json.Unmarshal(appendJSONString(nil, s), &got); err != nil || got != s {
			t.Errorf("%q: %s (%v); encoding/json: %s", s, appendJSONString(nil, s), err, want)
		}
	}
}

func BenchmarkAppendJSONString(b *testing.B) {
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = appendJSONString(buf[:0], "PQ4TZ2M7ZJQX6XN3EBK6UJ2Y4Q")
	}
}

// The fast path decodes into the caller's request: it allocates no
// request of its own, only the recipient's id as a string.
func TestDecodeRelayFastAllocations(t *testing.T) {
	frame := []byte(`{"type":"offer","to":"PQ4TZ2M7ZJQX6XN3EBK6UJ2Y4Q","id":7,"sdp":"v=0\r\na=x\r\n"}`)
	allocs := testing.AllocsPerRun(100, func() {
		var req request
		if !decodeRelayFast(frame, &req) || req.To != "PQ4TZ2M7ZJQX6XN3EBK6UJ2Y4Q" {
			t.Fatal("refused")
		}
	})
	if allocs > 1 {
		t.Fatalf("%.1f allocations per decode, want 1 (the to string)", allocs)
	}
}
