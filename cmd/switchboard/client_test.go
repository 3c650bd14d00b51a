package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-rtc/switchboard/web"
)

// These tests drive web/client/client.js in Chromium against fakeSignal,
// which makes the server's rare moves on cue. The whole product runs in
// TestBrowserCall.

const clientBudget = 20 * time.Second // every wait of one test together

// clientHarness installs a SignalingClient on the page as window.t.client,
// logging every event it emits in window.t.log, then connects and joins
// room1. options is a JS object literal.
const clientHarness = `(async () => {
	const { SignalingClient } = await import("/client/v1/client.js");
	const log = [];
	const client = new SignalingClient(location.origin, Object.assign(
		{ backoffBase: 100, backoffCap: 1000, connectTimeout: 3000, stableAfter: 60000 }, %s));
	for (const type of ["state", "welcome", "resumed", "resume-failed", "joined", "message", "close", "error"]) {
		client.addEventListener(type, (e) => log.push({ ...e.detail, event: type }));
	}
	window.t = { client, log, count: (event) => log.filter((e) => e.event === event).length };
	client.connect();
	client.join("room1").catch((e) => log.push({ event: "join-error", code: e.code }));
	return "";
})()`

type clientEnv struct {
	fake  *fakeSignal
	proxy *dropProxy
	page  *tab
}

// startClient serves the demo files and fake over a drop proxy, opens a tab
// and starts the harness with options.
func startClient(t *testing.T, b *browser, fake *fakeSignal, options string) *clientEnv {
	t.Helper()
	return startHarness(t, b, fake, clientHarness, options)
}

// startHarness is startClient with another harness (a format with one %s,
// the options).
func startHarness(t *testing.T, b *browser, fake *fakeSignal, harness, options string) *clientEnv {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/v1/", fake.handler())
	mux.Handle("/", web.ClusterHandler()) // the fake moves pages to an owner node
	proxy := startDropProxy(t, serveFake(t, mux))
	page := b.openTab(t, t.Name(), proxy.url+"/")
	t.Cleanup(func() {
		if t.Failed() {
			page.dumpHarness(t, fake)
		}
		page.close()
	})
	if _, err := evalAwait[string](page, fmt.Sprintf(harness, options)); err != nil {
		t.Fatalf("harness: %v", err)
	}
	return &clientEnv{fake: fake, proxy: proxy, page: page}
}

// serveFake serves h on a free loopback port until the test ends; it
// returns the address.
func serveFake(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx) // does not wait for hijacked WebSockets and open streams
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

func evalAwait[T any](tb *tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, slower(evalTimeout))
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

func (tb *tab) dumpHarness(t *testing.T, fake *fakeSignal) {
	log, err := eval[string](tb, `JSON.stringify(window.t && window.t.log, null, 0)`)
	if err != nil {
		log = err.Error()
	}
	t.Logf("client log: %s", strings.ReplaceAll(log, `},{`, "},\n  {"))
	snap := fake.snapshot()
	if n := len(snap.attaches); n > 20 {
		snap.attaches = append([]string{fmt.Sprintf("(%d more)", n-20)}, snap.attaches[n-20:]...)
	}
	t.Logf("fake: %+v", snap)
	tb.mu.Lock()
	t.Logf("console:\n  %s", strings.Join(tb.console, "\n  "))
	tb.mu.Unlock()
}

// messages is a JS expression: "" once the client has handled exactly the
// relayed messages want, in order.
func messagesExpr(want ...string) string {
	return `(() => {
		const got = window.t.log.filter((e) => e.event === "message").map((e) => e.data);
		return JSON.stringify(got) === ` + jsString(string(jsonOf(want))) + ` ? "" : "messages " + JSON.stringify(got);
	})()`
}

func jsonOf(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func fakeMessage(data string) map[string]any {
	return map[string]any{"type": "message", "from": "PEER", "data": data}
}

// A cut channel resumes on the same transport: events sent meanwhile
// arrive once and in order, events the server replays twice are dropped,
// and the page sees no new session and no re-join. Then the server ends
// the channel itself (close 4000, the SSE maximum age, the poll wait) and
// the session goes on.
func TestClientResume(t *testing.T) {
	t.Parallel()
	b := newBrowser(t, findChromium(t))
	for _, kind := range []string{"ws", "sse", "poll"} {
		t.Run(kind, func(t *testing.T) {
			fake := newFakeSignal()
			if kind == "poll" {
				fake.pollWait = 300 * time.Millisecond
			}
			env := startClient(t, b, fake, `{ transports: ["`+kind+`"] }`)
			deadline := time.Now().Add(clientBudget)
			p := env.page
			p.waitFor(t, deadline, "joined", `window.t.count("joined") === 1 && window.t.client.connected ? "" : "not joined"`)
			fake.push(0, fakeMessage("m1"))
			p.waitFor(t, deadline, "m1", messagesExpr("m1"))

			fake.replayTwice(2)
			env.proxy.dropAll()
			fake.push(0, fakeMessage("m2"))
			fake.push(0, fakeMessage("m3"))
			p.waitFor(t, deadline, "m1 to m3 after the cut", messagesExpr("m1", "m2", "m3"))
			if kind != "poll" { // a cut between two polls goes unnoticed, as it should
				p.waitFor(t, deadline, "a resume", `window.t.count("resumed") >= 1 && window.t.client.connected ? "" : "no resume"`)
			}

			// The server ends the channel on purpose.
			before := len(fake.snapshot().attaches)
			switch kind {
			case "ws":
				fake.kick(0, 4000)
			case "sse":
				fake.kick(0, 0) // ends the stream, as -sse-max-age does
			}
			eventually(t, deadline, "the channel to come back", func() string {
				if n := len(fake.snapshot().attaches); n <= before {
					return fmt.Sprintf("%d attaches", n)
				}
				return ""
			})
			fake.push(0, fakeMessage("m4"))
			p.waitFor(t, deadline, "m4", messagesExpr("m1", "m2", "m3", "m4"))
			p.waitFor(t, deadline, "one session, joined once, nothing lost", `(() => {
				const t = window.t;
				if (t.count("welcome") !== 1) return t.count("welcome") + " welcomes";
				if (t.count("joined") !== 1) return t.count("joined") + " joined";
				if (t.count("resume-failed") !== 0) return "resume failed";
				const bad = t.log.filter((e) => e.event === "error");
				if (bad.length) return "errors " + JSON.stringify(bad);
				if (t.client.transport !== "`+kind+`") return "on " + t.client.transport;
				return t.client.connected && t.client.room === "room1" ? "" : "not in room1";
			})()`)
			if kind == "ws" {
				p.waitFor(t, deadline, "a close 4000 with no backoff", `(() => {
					const i = window.t.log.findIndex((e) => e.event === "close" && e.code === 4000);
					if (i < 0) return "no close 4000";
					const next = window.t.log.slice(i + 1).find((e) => e.event === "state");
					return next && next.state === "connecting" ? "" : "then " + JSON.stringify(next);
				})()`)
			}

			// What the page sends while its channel is down waits for the
			// resume, then goes out once.
			fake.setRefused(kind, true)
			env.proxy.dropAll()
			p.waitFor(t, deadline, "the channel down", `window.t.client.connected ? "still connected" : ""`)
			if ok, err := eval[bool](p, `window.t.client.message("sent while away")`); err != nil || !ok {
				t.Fatalf("message while away: %v, %v; want it queued", ok, err)
			}
			fake.setRefused(kind, false)
			eventually(t, deadline, "the queued message", func() string {
				got := fake.snapshot().received
				if n := countOf(got, "message"); n != 1 {
					return fmt.Sprintf("%d messages in %v", n, got)
				}
				return ""
			})
			p.waitFor(t, deadline, "resumed again", `window.t.client.connected && window.t.count("welcome") === 1 ? "" : "not resumed"`)

			snap := fake.snapshot()
			if slices.Contains(snap.received, "bye") {
				t.Errorf("client sent bye: %v", snap.received)
			}
			if n := countOf(snap.received, "message"); n != 1 {
				t.Errorf("the queued message arrived %d times: %v", n, snap.received)
			}
			if snap.overlap != 0 || snap.sessions != 1 {
				t.Errorf("want one session and a resume that replayed twice; got %+v", snap)
			}

			// Leaving on purpose says bye (a WebSocket closes with 1000).
			if _, err := eval[bool](p, `window.t.client.disconnect(), true`); err != nil {
				t.Fatal(err)
			}
			eventually(t, deadline, "bye", func() string {
				if got := fake.snapshot().received; !slices.Contains(got, "bye") {
					return fmt.Sprint(got)
				}
				return ""
			})
		})
	}
}

func countOf(list []string, s string) (n int) {
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// A session the server no longer has: resume_failed, then a new session's
// welcome on the same channel, which the client re-joins; on SSE the stream
// is reopened with the new token.
func TestClientResumeFailed(t *testing.T) {
	t.Parallel()
	b := newBrowser(t, findChromium(t))
	for _, kind := range []string{"ws", "sse", "poll"} {
		t.Run(kind, func(t *testing.T) {
			fake := newFakeSignal()
			fake.pollWait = 300 * time.Millisecond
			env := startClient(t, b, fake, `{ transports: ["`+kind+`"] }`)
			deadline := time.Now().Add(clientBudget)
			p := env.page
			p.waitFor(t, deadline, "joined", `window.t.count("joined") === 1 && window.t.client.connected ? "" : "not joined"`)
			first := fake.snapshot()
			fake.forget()
			env.proxy.dropAll()
			if kind == "poll" {
				fake.push(0, fakeMessage("wakes the held poll")) // a poll notices a forgotten session on its next request
			}
			p.waitFor(t, deadline, "a new session, joined again", `(() => {
				const t = window.t;
				if (t.count("resume-failed") !== 1) return t.count("resume-failed") + " resume-failed";
				if (t.count("welcome") !== 2) return t.count("welcome") + " welcomes";
				const j = t.log.filter((e) => e.event === "joined");
				if (j.length !== 2 || !j[1].rejoin) return "joined " + JSON.stringify(j);
				// Not always S002: a poll whose answer the cut lost may have made one.
				return t.client.connected && t.client.sessionId !== "S001" ? "" : "session " + t.client.sessionId;
			})()`)
			snap := fake.snapshot()
			if snap.room != "room1" {
				t.Errorf("want the new session in room1; got %+v (before: %+v)", snap, first)
			}
			fake.push(snap.sessions-1, fakeMessage("to the new session"))
			p.waitFor(t, deadline, "an event of the new session", `window.t.log.some((e) => e.event === "message" && e.data === "to the new session") ? "" : "not yet"`)
			if kind == "sse" && !slices.Contains(snap.attaches, "sse resume 1") {
				t.Errorf("SSE not reopened with the new token: %v", snap.attaches)
			}
		})
	}
}

// Another channel taking the session over ends this one with "replaced"
// (close 4001, an SSE notice, a poll answered 409): the client stops and
// does not fight back.
func TestClientReplaced(t *testing.T) {
	t.Parallel()
	b := newBrowser(t, findChromium(t))
	for _, kind := range []string{"ws", "sse", "poll"} {
		t.Run(kind, func(t *testing.T) {
			fake := newFakeSignal()
			fake.pollWait = 5 * time.Second // the client's poll is held when the takeover comes
			env := startClient(t, b, fake, `{ transports: ["`+kind+`"] }`)
			deadline := time.Now().Add(clientBudget)
			p := env.page
			p.waitFor(t, deadline, "joined", `window.t.count("joined") === 1 && window.t.client.connected ? "" : "not joined"`)
			fake.kick(0, 4001)
			p.waitFor(t, deadline, "closed for good", `(() => {
				const t = window.t, c = t.client;
				const close = t.log.find((e) => e.event === "close" && e.code === 4001);
				if (!close) return "no close 4001";
				if (close.willReconnect) return "will reconnect";
				const last = t.log.filter((e) => e.event === "state").pop();
				if (last.state !== "closed") return "state " + last.state;
				return !c.connected && !c._channel && !c._reconnectTimer ? "" : "still trying";
			})()`)
			if got := fake.snapshot().received; slices.Contains(got, "bye") {
				t.Errorf("a replaced client must not say bye: %v", got)
			}
		})
	}
}

// A WebSocket that cannot open makes the client fall back to SSE, and an
// event stream that cannot open to long-polling, resuming the session each
// time. Errors for posted frames come in the POST answer.
func TestClientFallback(t *testing.T) {
	t.Parallel()
	b := newBrowser(t, findChromium(t))
	fake := newFakeSignal()
	fake.setRefused("ws", true)
	env := startClient(t, b, fake, `{}`)
	deadline := time.Now().Add(clientBudget)
	p := env.page
	p.waitFor(t, deadline, "joined over SSE", `window.t.count("joined") === 1 && window.t.client.transport === "sse" && window.t.client.connected ? "" : "on " + window.t.client.transport`)

	fake.setRefused("sse", true)
	env.proxy.dropAll()
	fake.push(0, fakeMessage("while falling back"))
	p.waitFor(t, deadline, "resumed on long-polling", `(() => {
		const t = window.t;
		if (t.client.transport !== "poll" || !t.client.connected) return "on " + t.client.transport;
		if (t.count("welcome") !== 1 || t.count("joined") !== 1) return "started over";
		return t.log.some((e) => e.event === "message" && e.data === "while falling back") ? "" : "event lost";
	})()`)

	code, err := evalAwait[string](p, `window.t.client.request({ type: "join", room: "room2" }).then(() => "joined", (e) => e.code)`)
	if err != nil || code != "already_in_room" {
		t.Errorf("second join over POST: %q, %v; want already_in_room", code, err)
	}

	// A POST refused as over the byte budget (429) is sent again later,
	// on the same channel.
	fake.mu.Lock()
	fake.busy = 1
	fake.mu.Unlock()
	closes, err := eval[int](p, `window.t.count("close")`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := eval[bool](p, `window.t.client.message("after a 429")`); err != nil || !ok {
		t.Fatalf("message: %v, %v", ok, err)
	}
	eventually(t, deadline, "the message after a 429", func() string {
		if n := countOf(fake.snapshot().received, "message"); n != 1 {
			return fmt.Sprintf("%d messages", n)
		}
		return ""
	})
	p.waitFor(t, deadline, "the same channel", fmt.Sprintf(`window.t.count("close") === %d ? "" : "channel closed"`, closes))
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.busy != 0 {
		t.Errorf("no POST was refused with 429")
	}
}
