package main

import (
	"context"
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
