package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling"
)

var httpTransports = []string{transportSSE, transportPoll}

func TestRelayHTTP(t *testing.T) {
	for _, tr := range httpTransports {
		for _, mode := range [][]string{{"-window", "4"}, {"-rate", "400"}} {
			t.Run(tr+strings.Join(mode, ""), func(t *testing.T) {
				url, _, _ := testServer(t, 1e6)
				errs := newErrorLog()
				cfg := testConfig(t, url, append([]string{"-transport", tr, "-pairs", "2"}, mode...)...)
				res, err := runRelay(t.Context(), cfg, errs, t.Logf)
				if err != nil {
					t.Fatal(err)
				}
				if errs.total() != 0 {
					t.Fatalf("errors:\n%s", errs)
				}
				if res.Sent == 0 || res.Received != res.Sent || res.InWindow == 0 || res.Transport != tr {
					t.Errorf("%s: sent %d, received %d, %d in window", res.Transport, res.Sent, res.Received, res.InWindow)
				}
				if l := res.Latency; l.N == 0 || l.P50 <= 0 || l.P50 > l.P99 {
					t.Errorf("latency %+v", l)
				}
			})
		}
	}
}

// TestRelayHTTPRefused: offers over the server's rate limit are refused in
// the POST answers, and the run counts them.
func TestRelayHTTPRefused(t *testing.T) {
	url, _, _ := testServer(t, 0)
	errs := newErrorLog()
	cfg := testConfig(t, url, "-transport", "sse", "-pairs", "1", "-window", "64", "-drain", "200ms")
	if _, err := runRelay(t.Context(), cfg, errs, t.Logf); err != nil {
		t.Fatal(err)
	}
	if errs.counts()["server:rate_limited"] == 0 {
		t.Errorf("errors %v, want server:rate_limited", errs.counts())
	}
}

// TestIdleHTTP holds sessions longer than an SSE stream's maximum age and
// a long-poll's wait: the tool reopens and polls again, and nothing is
// counted as dropped.
func TestIdleHTTP(t *testing.T) {
	for _, tr := range httpTransports {
		t.Run(tr, func(t *testing.T) {
			url, metrics, _ := testServerWith(t, func(c *signaling.Config) {
				c.SSEMaxAge, c.PollWait = time.Second, 300*time.Millisecond
			})
			errs := newErrorLog()
			cfg := testConfig(t, url, "-scenario", "idle", "-transport", tr, "-conns", "6", "-duration", "1500ms",
				"-server-pid", strconv.Itoa(os.Getpid()), "-metrics-url", metrics)
			res, err := runIdle(t.Context(), cfg, errs, t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			if errs.total() != 0 {
				t.Fatalf("errors:\n%s", errs)
			}
			if res.Connected != 6 || res.Dropped != 0 || res.End.RSS <= 0 {
				t.Errorf("connected %d, dropped %d, RSS %d", res.Connected, res.Dropped, res.End.RSS)
			}
			// SSE: the stream and a reopen or two at the 1 s maximum age;
			// poll: three to set up, then one per 300 ms wait. Many more
			// means polls are not held.
			if res.Requests < 2 || res.Requests > 12 {
				t.Errorf("%.1f requests per session", res.Requests)
			}
		})
	}
}

func TestResume(t *testing.T) {
	for _, tr := range []string{transportWS, transportSSE, transportPoll} {
		t.Run(tr, func(t *testing.T) {
			url, _, _ := testServer(t, 1e6)
			var out, log bytes.Buffer
			cfg := testConfig(t, url, "-scenario", "resume", "-transport", tr, "-rounds", "3", "-json")
			if err := run(t.Context(), cfg, &out, &log); err != nil {
				t.Fatalf("run: %v; log:\n%s", err, &log)
			}
			var sum resumeJSON
			if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
				t.Fatal(err)
			}
			if sum.Completed != 3 || sum.Events != 100 || sum.P50ms <= 0 || sum.FirstP50ms > sum.P50ms || sum.Errors != 0 {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

// TestResumeFails: with no grace period a cut session is gone as soon as
// the server notices the cut, and the round fails rather than report a
// time. The server notices asynchronously: a round whose resume took the
// session over before that completes, as it should, so the test asks only
// that rounds failed and were counted as failures.
func TestResumeFails(t *testing.T) {
	url, _, _ := testServerWith(t, func(c *signaling.Config) { c.ResumeGrace = time.Nanosecond })
	errs := newErrorLog()
	const rounds = 4
	cfg := testConfig(t, url, "-scenario", "resume", "-transport", "sse", "-rounds", "4", "-events", "20")
	res, err := runResume(t.Context(), cfg, errs, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if failed := errs.counts()["round"]; failed == 0 || res.Completed+failed != rounds {
		t.Errorf("%d rounds completed, %d failed; errors:\n%s", res.Completed, failed, errs)
	}
}

func TestSSEStream(t *testing.T) {
	in := "retry: 1000\n\nid: 1\ndata: {\"type\":\"welcome\"}\n\n: hb\n\n" +
		"data: {\"type\":\"resumed\"}\n\nid: 7\ndata: {\"a\":\ndata: 1}\n\nid: 8\ndata: " + strings.Repeat("x", 40000) + "\n\n"
	s := &sseStream{r: bufio.NewReaderSize(strings.NewReader(in), 64)}
	for _, want := range []struct {
		msg string
		seq uint64
	}{{`{"type":"welcome"}`, 1}, {`{"type":"resumed"}`, 0}, {"{\"a\":\n1}", 7}, {strings.Repeat("x", 40000), 8}} {
		msg, seq, err := s.next()
		if err != nil || string(msg) != want.msg || seq != want.seq {
			t.Fatalf("got %.40q %d %v, want %.40q %d", msg, seq, err, want.msg, want.seq)
		}
	}
	if _, _, err := s.next(); err != io.EOF {
		t.Errorf("at the end: %v, want EOF", err)
	}
	s = &sseStream{r: bufio.NewReader(strings.NewReader("id: 1\ndata: {"))}
	if _, _, err := s.next(); err == nil || err == io.EOF {
		t.Errorf("cut mid-event: %v, want an unexpected EOF", err)
	}
}

func TestSplitArray(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{`[]`, nil, true},
		{` [{"a":1}] `, []string{`{"a":1}`}, true},
		{`[{"s":"},{\"x"},{"b":[1,{"c":2}],"seq":3}]`, []string{`{"s":"},{\"x"}`, `{"b":[1,{"c":2}],"seq":3}`}, true},
		{`{"a":1}`, nil, false},
		{`[{"a":1]`, nil, false},
		{`[{"a":"1}]`, nil, false},
	} {
		got, err := splitArray([]byte(tc.in), nil)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %q", tc.in, got)
			continue
		}
		for i := range got {
			if string(got[i]) != tc.want[i] {
				t.Errorf("%s: element %d is %s, want %s", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestTrailingSeq(t *testing.T) {
	for in, want := range map[string]uint64{
		`{"type":"offer","seq":42}`:    42,
		`{"type":"joined","seq":1}`:    1,
		`{"type":"resumed"}`:           0,
		`{"type":"x","seq":}`:          0,
		`{"type":"x","myseq":5}`:       0,
		`{"type":"x","seq":"5"}`:       0,
		`,"seq":7}`:                    7,
		`{"seq":99999999999999999999}`: 0,
	} {
		if got := trailingSeq([]byte(in)); got != want {
			t.Errorf("%s: %d, want %d", in, got, want)
		}
	}
}

func TestPostBatch(t *testing.T) {
	for _, size := range []int{minFrameSize, 1500, maxFrameSize} {
		b := newPostBatch("PEER", size, 8)
		for _, k := range []int{b.max, 1, min(3, b.max)} {
			body := b.stamp(k, 987654321)
			var msgs []struct{ Type, To, SDP string }
			if err := json.Unmarshal(body, &msgs); err != nil || len(msgs) != k {
				t.Fatalf("size %d, k %d: %d messages, %v", size, k, len(msgs), err)
			}
			for _, m := range msgs {
				if ts, ok := parseStamp([]byte(`{"type":"offer","sdp":"` + m.SDP)); !ok || ts != 987654321 || m.To != "PEER" {
					t.Errorf("size %d, k %d: stamp %d %v, to %q", size, k, ts, ok, m.To)
				}
			}
			if len(body) > maxPostBody {
				t.Errorf("size %d, k %d: body of %d bytes", size, k, len(body))
			}
		}
	}
}
