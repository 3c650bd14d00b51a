package client

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzSSEReader: any byte stream gives events no longer than the limit,
// then an error; never a panic or an unbounded line.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"retry: 1000\n\nid: 1\ndata: {\"type\":\"welcome\",\"seq\":1}\n\n",
		": hb\n\ndata: a\ndata: b\n\n",
		"data:{}\r\n\r\n",
		"data: x",
		"\n\n\ndata\n\n",
		"event: x\nid: 9\ndata: {\"type\":\"error\",\"code\":\"replaced\"}\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 64
		r := newSSEReader(bytes.NewReader(b), limit)
		for range len(b) + 1 {
			data, err := r.next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, errEventTooLong) {
					t.Fatalf("error %v", err)
				}
				return
			}
			if len(data) > limit {
				t.Fatalf("event of %d bytes over the limit %d", len(data), limit)
			}
		}
		t.Fatal("more events than bytes")
	})
}

// TestSSEReader: events as a browser reads them.
func TestSSEReader(t *testing.T) {
	r := newSSEReader(bytes.NewReader([]byte("retry: 1000\n\n: hb\nid: 1\ndata: one\r\n\r\ndata: two\ndata: lines\n\ndata: cut")), 1024)
	for _, want := range []string{"one", "two\nlines"} {
		got, err := r.next()
		if err != nil || string(got) != want {
			t.Fatalf("event %q, %v; want %q", got, err, want)
		}
	}
	if _, err := r.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("a stream cut inside an event: %v, want EOF", err)
	}
	long := newSSEReader(bytes.NewReader(append(append([]byte("data: "), bytes.Repeat([]byte("x"), 100)...), "\n\n"...)), 50)
	if _, err := long.next(); !errors.Is(err, errEventTooLong) {
		t.Fatalf("line over the limit: %v", err)
	}
}

// FuzzParseFrame: any frame parses to a typed frame or to nil.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"welcome","session":"S","token":"T","iceServers":[{"urls":["stun:x"]}],"ttl":3600,"heartbeat":20,"seq":1}`,
		`{"type":"candidate","from":"A","candidate":null,"seq":7}`,
		`{"type":"error","code":"resume_failed","message":"gone"}`,
		`[]`, `{"type":1}`, `{"seq":-1,"type":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if fr := parseFrame(b); fr != nil && fr.Type == "" {
			t.Fatal("frame without a type")
		}
	})
}
