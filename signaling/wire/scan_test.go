package wire

import (
	"encoding/json"
	"strings"
	"testing"
)

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
		var req Request
		if !DecodeRelayFast(frame, &req) {
			b.Fatal("refused")
		}
	}
}

// TestScanStringUTF8 checks what str accepts besides plain ASCII: UTF-8
// (checked there, since DecodeRelayFast no longer checks the whole frame)
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
	if DecodeRelayFast([]byte("{\"type\":\"offer\",\"to\":\"x\",\"sdp\":\"v=0\xff\"}"), &Request{}) {
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
		if err := json.Unmarshal(AppendJSONString(nil, s), &got); err != nil || got != s {
			t.Errorf("%q: %s (%v); encoding/json: %s", s, AppendJSONString(nil, s), err, want)
		}
	}
}

func BenchmarkAppendJSONString(b *testing.B) {
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = AppendJSONString(buf[:0], "PQ4TZ2M7ZJQX6XN3EBK6UJ2Y4Q")
	}
}

// The fast path decodes into the caller's request: it allocates no
// Request of its own, only the recipient's id as a string.
func TestDecodeRelayFastAllocations(t *testing.T) {
	frame := []byte(`{"type":"offer","to":"PQ4TZ2M7ZJQX6XN3EBK6UJ2Y4Q","id":7,"sdp":"v=0\r\na=x\r\n"}`)
	allocs := testing.AllocsPerRun(100, func() {
		var req Request
		if !DecodeRelayFast(frame, &req) || req.To != "PQ4TZ2M7ZJQX6XN3EBK6UJ2Y4Q" {
			t.Fatal("refused")
		}
	})
	if allocs > 1 {
		t.Fatalf("%.1f allocations per decode, want 1 (the to string)", allocs)
	}
}
