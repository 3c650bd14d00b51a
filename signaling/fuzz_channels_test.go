package signaling

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// FuzzResumeParams: after and Last-Event-ID accept exactly the decimal
// numbers 0..2^53-1, and Last-Event-ID wins when present.
func FuzzResumeParams(f *testing.F) {
	for _, seed := range [][2]string{
		{"0", ""}, {"17", "18"}, {"", "5"}, {"-1", ""}, {"1e3", ""}, {"9007199254740991", ""},
		{"9007199254740992", ""}, {"00012", ""}, {" 1", ""}, {"", "x"}, {"+4", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, after, lastEventID string) {
		r := &http.Request{URL: &url.URL{RawQuery: "token=t&after=" + url.QueryEscape(after)}, Header: http.Header{}}
		if lastEventID != "" {
			r.Header.Set("Last-Event-ID", lastEventID)
		}
		p, err := parseResume(r, true)
		raw := after
		if lastEventID != "" {
			raw = lastEventID
		}
		n, convErr := strconv.ParseUint(raw, 10, 64)
		valid := raw == "" || convErr == nil && n <= wire.MaxSeq && !strings.ContainsAny(raw[:1], "+-")
		if (err == nil) != valid {
			t.Fatalf("after %q Last-Event-ID %q: err %v, want valid=%v", after, lastEventID, err, valid)
		}
		if err == nil && raw != "" && (p.after != n || p.fromLast) {
			t.Fatalf("after %q Last-Event-ID %q: got %+v", after, lastEventID, p)
		}
		if p.token != "t" {
			t.Fatalf("token %q", p.token)
		}
	})
}

// FuzzWriteSSE: whatever a frame holds, the event-stream parser of a
// browser gets back the same JSON (line breaks become "\n", which JSON
// treats as the same whitespace) under the right id.
func FuzzWriteSSE(f *testing.F) {
	f.Add(uint64(3), []byte(`{"type":"message","data":[1,`+"\r\n"+`2]}`))
	f.Add(uint64(0), []byte(`{"type":"resumed"}`))
	f.Add(uint64(9), []byte("{\r\r\n\n}"))
	f.Fuzz(func(t *testing.T, seq uint64, data []byte) {
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		writeSSE(bw, seq, data)
		_ = bw.Flush()
		id, got := parseOneSSE(out.String())
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(data))
		if got != want {
			t.Fatalf("data %q came back as %q", want, got)
		}
		if wantID := strconv.FormatUint(seq, 10); seq > 0 && id != wantID || seq == 0 && id != "" {
			t.Fatalf("id %q for seq %d", id, seq)
		}
	})
}

// parseOneSSE follows the WHATWG event-stream rules for one event.
func parseOneSSE(s string) (id, data string) {
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
	var lines []string
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n\n"), "\n") {
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "data":
			lines = append(lines, value)
		}
	}
	return id, strings.Join(lines, "\n")
}
