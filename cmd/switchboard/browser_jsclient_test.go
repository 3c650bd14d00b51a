package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserJSClientREADME is a newcomer following web/client/README.md:
// its quick-start page, served as a static file on another origin (a
// port of its own), imports the client from the server's /client/v1/
// and two tabs of it call each other, with video both ways. The same
// origin then uses server-sent events and polling (CORS on the API,
// preflights included), and a page on an origin the server was not
// told about cannot import the client at all.
func TestBrowserJSClientREADME(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	page := readmeBlock(t, "html")

	// The pages' origins first: the server must list the allowed one.
	allowed := servePage(t, page)
	other := servePage(t, page)
	app := startApp(t, func(c *config) { c.AllowedOrigins = allowed.origin })
	allowed.setServer(app.httpURL)
	other.setServer(app.httpURL)

	b := newBrowser(t, chromium)
	deadline := time.Now().Add(browserBudget)
	t.Cleanup(func() {
		if t.Failed() {
			for _, tb := range b.tabs {
				tb.mu.Lock()
				t.Logf("%s console:\n%s", tb.name, strings.Join(tb.console, "\n"))
				tb.mu.Unlock()
			}
		}
	})
	start := time.Now()
	alice := b.openTab(t, "Alice", allowed.origin+"/")
	bob := b.openTab(t, "Bob", allowed.origin+"/")
	// Each tab shows its camera and a video of the other's, playing.
	for _, tb := range []*tab{alice, bob} {
		tb.waitFor(t, deadline, "the other's video", `(() => {
			const me = document.getElementById("me");
			if (!me.srcObject) return "no camera yet";
			const others = [...document.querySelectorAll("video")].filter((v) => v !== me);
			if (others.length !== 1) return others.length + " remote videos";
			const v = others[0];
			return v.videoWidth > 0 && v.readyState >= 2 && v.srcObject.getAudioTracks().length === 1 ? "" : "remote video " + v.videoWidth + "px, readyState " + v.readyState;
		})()`)
	}
	t.Logf("README page: a call between two tabs on %s in %v", allowed.origin, time.Since(start).Round(time.Millisecond))

	// The other channels from that origin: an event stream and polls
	// read the server's answers, POSTs and GET /v1/ice-servers pass
	// their preflights.
	ctx, cancel := context.WithTimeout(alice.ctx, 20*time.Second)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
		const { SignalingClient } = await import(`+jsString(app.httpURL+"/client/v1/index.js")+`);
		const sse = new SignalingClient(`+jsString(app.httpURL)+`, { transports: ["sse"] });
		const poll = new SignalingClient(`+jsString(app.httpURL)+`, { transports: ["poll"] });
		const heard = new Promise((resolve) => poll.addEventListener("message", (e) => resolve(e.detail.data)));
		try {
			const a = sse.join("cors-room", "sse"); sse.connect(); await a;
			const b = poll.join("cors-room", "poll"); poll.connect(); await b;
			sse.message("over sse, to a poll");
			const ice = await sse.fetchIceServers();
			const data = await Promise.race([heard, new Promise((_, no) => setTimeout(() => no(new Error("no message")), 10000))]);
			return data + "; ice servers: " + ice.iceServers.length;
		} finally {
			sse.disconnect();
			poll.disconnect();
		}
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("sse and poll from %s: %v", allowed.origin, err)
	}
	if !strings.HasPrefix(got, "over sse, to a poll; ice servers: ") || strings.HasSuffix(got, ": 0") {
		t.Errorf("sse and poll from %s: %q", allowed.origin, got)
	}

	// An origin not in -allowed-origins gets no CORS: the import fails.
	eve := b.openTab(t, "Eve", other.origin+"/")
	refused, err := evalAwait[string](eve, `import(`+jsString(app.httpURL+"/client/v1/index.js?again")+`).then(() => "imported", (e) => "refused: " + e.message)`)
	if err != nil || !strings.HasPrefix(refused, "refused: ") {
		t.Errorf("import from %s, not allowed: %q, %v", other.origin, refused, err)
	}

	for _, tb := range []*tab{alice, bob} {
		for _, p := range tb.problemLines() {
			t.Errorf("%s: %s", tb.name, p)
		}
	}
}

// readmeBlock returns the one fenced block in lang of web/client/README.md.
func readmeBlock(t *testing.T, lang string) string {
	t.Helper()
	text, err := os.ReadFile("../../web/client/README.md")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	rest := string(text)
	for {
		_, after, ok := strings.Cut(rest, "```"+lang+"\n")
		if !ok {
			break
		}
		code, tail, _ := strings.Cut(after, "```")
		found = append(found, code)
		rest = tail
	}
	if len(found) != 1 {
		t.Fatalf("README.md has %d %s blocks, want 1", len(found), lang)
	}
	return found[0]
}

// staticPage serves one HTML file on a port of its own: an app's page,
// on an origin that is not the server's.
type staticPage struct {
	origin string
	page   string
	body   atomic.Pointer[string] // the page, with the test server's URL for the README's
}

// servePage listens now, so the origin is known before the server
// starts; setServer names the server before any tab opens the page.
func servePage(t *testing.T, page string) *staticPage {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &staticPage{origin: "http://" + ln.Addr().String(), page: page}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body := p.body.Load()
			if r.URL.Path != "/" || body == nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(*body))
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("page server: %v", err)
		}
	})
	return p
}

func (p *staticPage) setServer(url string) {
	body := strings.ReplaceAll(p.page, "http://localhost:8080", url)
	p.body.Store(&body)
}

// TestBrowserJSClientRoom: two Rooms of the client in one tab, both set
// to call newcomers, so both offer when the second joins; then both
// restart ICE in the same instant, so their offers cross (glare). Perfect
// negotiation sorts both out: the impolite side ignores the polite
// side's offer, the polite side rolls back and answers, and the calls
// end up connected on new ICE credentials with video flowing both ways.
func TestBrowserJSClientRoom(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	blank := servePage(t, "<!doctype html><title>rooms</title>\n")
	app := startApp(t, func(c *config) { c.AllowedOrigins = blank.origin })
	blank.setServer(app.httpURL)
	b := newBrowser(t, chromium)
	tb := b.openTab(t, "rooms", blank.origin+"/")

	ctx, cancel := context.WithTimeout(tb.ctx, browserBudget)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
		const server = `+jsString(app.httpURL)+`;
		const { SignalingClient, Room } = await import(server + "/client/v1/index.js");
		const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
		const deadline = Date.now() + 30000;
		const until = async (what, cond) => {
			while (!(await cond())) {
				if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
				await new Promise((r) => setTimeout(r, 50));
			}
		};
		const logs = [];
		const side = (name) => {
			const signaling = new SignalingClient(server);
			const room = new Room(signaling, { localStream: stream, callNewcomers: true, log: (m) => logs.push(name + ": " + m) });
			return { name, signaling, room, call: () => [...room.calls.values()][0] };
		};
		const a = side("a"), b = side("b");
		await a.room.join("glare", "a");
		await b.room.join("glare", "b");
		const frames = async (s) => {
			let n = 0;
			(await s.call().pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") n += r.framesDecoded || 0; });
			return n;
		};
		const settled = (s) => s.call() && s.call().connectionState === "connected" && s.call().pc.signalingState === "stable";
		await until("both calls connected", () => settled(a) && settled(b));
		await until("video both ways", async () => (await frames(a)) > 0 && (await frames(b)) > 0);
		const ufrag = (s) => /a=ice-ufrag:(\S+)/.exec(s.call().pc.remoteDescription.sdp)[1];
		const before = [ufrag(a), ufrag(b)];
		const framesBefore = [await frames(a), await frames(b)];
		const collided = logs.filter((l) => l.includes("ignoring colliding offer")).length;
		a.call().restartIce();
		b.call().restartIce();
		await until("the restart's glare", () => logs.filter((l) => l.includes("ignoring colliding offer")).length > collided);
		await until("new ICE credentials on both sides", () => settled(a) && settled(b) && ufrag(a) !== before[0] && ufrag(b) !== before[1]);
		await until("video both ways after the restart", async () => (await frames(a)) > framesBefore[0] + 10 && (await frames(b)) > framesBefore[1] + 10);
		const impolite = [a, b].find((s) => !s.call().polite);
		const ignored = logs.filter((l) => l.startsWith(impolite.name + ": ignoring colliding offer")).length;
		const failed = logs.filter((l) => l.includes("failed"));
		await a.room.close();
		await until("b to see a leave", () => b.room.calls.size === 0);
		a.signaling.disconnect();
		b.signaling.disconnect();
		return JSON.stringify({ ignored, failed, logs });
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.mu.Lock()
		t.Logf("console:\n%s", strings.Join(tb.console, "\n"))
		tb.mu.Unlock()
		t.Fatal(err)
	}
	var res struct {
		Ignored int
		Failed  []string
		Logs    []string
	}
	if err := json.Unmarshal([]byte(got), &res); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	t.Logf("negotiation log: %s", got)
	if res.Ignored == 0 || len(res.Failed) > 0 {
		t.Errorf("the impolite side ignored %d colliding offers (want at least one, its own side's); failures: %q", res.Ignored, res.Failed)
	}
	for _, p := range tb.problemLines() {
		t.Errorf("%s", p)
	}
}
