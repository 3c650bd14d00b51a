package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Helpers of the Chromium tests: the browser, its tabs, and a proxy that
// cuts connections.

// findChromium returns the browser to test with. Without one the test is
// skipped locally, but fails in CI, where a skip would hide a broken setup.
func findChromium(t *testing.T) string {
	t.Helper()
	browserSlots.hold(t)
	if p := os.Getenv("SWITCHBOARD_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("SWITCHBOARD_CHROMIUM: %v", err)
		}
		return p
	}
	candidates := []string{"/usr/bin/chromium"}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			candidates = append(candidates, p)
		}
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium not found (install it with apt-get install chromium, or set SWITCHBOARD_CHROMIUM)")
	}
	t.Skip("Chromium not found: install it with apt-get install chromium, or set SWITCHBOARD_CHROMIUM")
	return ""
}

// browser is one headless Chromium with a throwaway profile.
type browser struct {
	ctx    context.Context
	output *lockedBuffer
	tabs   []*tab
	// viewport, when set, is each new tab's size (a phone's screen:
	// headless windows are at least 500 pixels wide).
	viewport [2]int64
	// states holds each tab's window.switchboard, taken once when a
	// failed test starts closing its tabs (see openTab).
	states   map[*tab]string
	snapshot sync.Once
}

// newBrowser starts Chromium; extra options go after the defaults, so
// chromedp.Flag(name, false) drops one of them.
func newBrowser(t *testing.T, path string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	out := &lockedBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(out),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider"),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Two tabs, one in the background: keep its timers and media going.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc) // waits for the browser process to exit
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v\n%s", err, out.tail(4096))
	}
	return &browser{ctx: ctx, output: out}
}

// tab is one page of the browser, with its console collected.
type tab struct {
	name   string
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	console  []string // console calls, exceptions and browser log entries
	problems []string // exceptions and security (CSP) log entries
	closed   bool
}

func (b *browser) openTab(t *testing.T, name, pageURL string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(func() {
		// The newest tab closes first: a failed test's pages are read
		// before any of them goes, or the others would show it leaving.
		if t.Failed() {
			b.snapshot.Do(b.readStates)
		}
		cancel()
	})
	tb := &tab{name: name, ctx: ctx, cancel: cancel}
	b.tabs = append(b.tabs, tb)
	if err := chromedp.Listen(ctx, tb.record); err != nil {
		t.Fatalf("%s: listen: %v", name, err)
	}
	enableLog := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}) // CSP violations arrive as log entries
		return err
	})
	size := chromedp.Steps()
	if b.viewport[0] > 0 {
		size = chromedp.EmulateViewport(b.viewport[0], b.viewport[1], chromedp.EmulateMobile)
	}
	if err := chromedp.Do(ctx, enableLog, size, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("%s: open %s: %v", name, pageURL, err)
	}
	return tb
}

// openCall opens a call page (callPageURL) and clicks Join, as a person
// must: a link alone never shares the camera.
func (b *browser) openCall(t *testing.T, name, pageURL string) *tab {
	t.Helper()
	tb := b.openTab(t, name, pageURL)
	ctx, cancel := context.WithTimeout(tb.ctx, slower(evalTimeout))
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("join-button"))); err != nil {
		t.Fatalf("%s: click join: %v", name, err)
	}
	return tb
}

// record runs on chromedp's reader goroutine: it must be quick.
func (tb *tab) record(ev any) {
	var line string
	problem := false
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		parts := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			if len(a.Value) > 0 {
				var s string
				if json.Unmarshal(a.Value, &s) == nil {
					parts = append(parts, s)
				} else {
					parts = append(parts, string(a.Value))
				}
			} else {
				parts = append(parts, a.Description)
			}
		}
		line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " "))
	case *runtime.EventExceptionThrown:
		line = "exception: " + (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error()
		problem = true
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		line = fmt.Sprintf("log.%s %s: %s %s", e.Level, e.Source, e.Text, e.URL)
		problem = e.Source == cdplog.EntrySourceSecurity
	default:
		return
	}
	tb.mu.Lock()
	tb.console = append(tb.console, time.Now().Format("15:04:05.000 ")+line)
	if problem {
		tb.problems = append(tb.problems, line)
	}
	tb.mu.Unlock()
}

func (tb *tab) problemLines() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.problems...)
}

// networkErrors are the console's failed requests (a 4xx or 5xx answer,
// logged by Chromium as a network error) to URLs containing path.
func (tb *tab) networkErrors(path string) []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var lines []string
	for _, line := range tb.console {
		if strings.Contains(line, "log.error network") && strings.Contains(line, path) {
			lines = append(lines, line)
		}
	}
	return lines
}

// close closes the tab as a user does: the page gets pagehide (and says
// bye), which cancelling its context alone (Target.closeTarget) skips.
func (tb *tab) close() {
	tb.mu.Lock()
	tb.closed = true
	tb.mu.Unlock()
	ctx, cancel := context.WithTimeout(tb.ctx, slower(evalTimeout))
	_, _ = chromedp.Run(ctx, chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.Close, cdp.Empty{})
		return chromedp.Void{}, err
	}))
	cancel()
	tb.cancel() // waits until the tab is gone
}

func (tb *tab) isClosed() bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.closed
}

// eval evaluates a JavaScript expression in the page, bounded by evalTimeout
// (slower on a busy machine).
func eval[T any](tb *tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, slower(evalTimeout))
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// waitFor polls expr until it returns "" or the deadline passes. Anything
// else it returns says what is still missing, for the failure message.
func (tb *tab) waitFor(t *testing.T, deadline time.Time, what, expr string) {
	t.Helper()
	deadline = slowerDeadline(deadline)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		missing, err := eval[string](tb, expr)
		if err == nil && missing == "" {
			return
		}
		if time.Now().After(deadline) {
			if err != nil {
				missing = err.Error()
			}
			t.Fatalf("%s: timed out waiting for %s; last seen: %s", tb.name, what, missing)
		}
		<-ticker.C
	}
}

// chat types text into the chat box and sends it with Enter, as a user
// would. It waits for the box to be enabled (it is disabled while
// offline) up to chatReady, commits the text as one input, as a phone
// keyboard or an IME does, and presses Enter. Keyboard input goes to the
// focused box; a mouse click on Send needs the tab's compositor to hit
// test it, and in a tab Chromium does not draw (another tab of its
// window in front) the click waited forever (issue 20: "Carol: send
// chat: context deadline exceeded", at "press Send").
func (tb *tab) chat(t *testing.T, text string) {
	t.Helper()
	tb.waitFor(t, time.Now().Add(chatReady), "the chat box enabled and on screen", `(() => {
		const i = document.getElementById("chat-input"), r = i.getBoundingClientRect();
		if (i.disabled || document.getElementById("chat-send").disabled) return "disabled";
		return r.width > 0 && r.height > 0 ? "" : "not visible";
	})()`)
	for _, step := range []struct {
		name   string
		action chromedp.Action[chromedp.Void]
	}{
		// The user looks at the tab before typing: Chromium does not
		// take input in a tab of its window that it does not draw.
		{"bring the tab to the front", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, tg, page.BringToFront, cdp.Empty{})
			return chromedp.Void{}, err
		}},
		{"focus the box", chromedp.Focus(chromedp.ID("chat-input"))},
		{"type", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
			return chromedp.Void{}, err
		}},
		{"press Enter", chromedp.KeyEvent(kb.Enter)},
	} {
		ctx, cancel := context.WithTimeout(tb.ctx, slower(evalTimeout))
		err := chromedp.Do(ctx, step.action)
		cancel()
		if err != nil {
			t.Fatalf("%s: send chat: %s: %v", tb.name, step.name, err)
		}
	}
}

// defineOverlap gives tb's page overlap(a, b): whether two DOMRects
// share any area.
func defineOverlap(t *testing.T, tb *tab) {
	t.Helper()
	if _, err := eval[bool](tb, `window.overlap = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom, true`); err != nil {
		t.Fatal(err)
	}
}

// waitForChat waits until the chat log shows text from sender.
func (tb *tab) waitForChat(t *testing.T, deadline time.Time, sender, text string) {
	t.Helper()
	tb.waitFor(t, deadline, fmt.Sprintf("chat %q from %s", text, sender), `(() => {
		const seen = [...document.querySelectorAll("#chat-log .msg:not(.mine):not(.system)")].map((li) =>
			[li.querySelector(".msg-name").textContent, li.querySelector(".msg-text").textContent]);
		const found = seen.some(([name, text]) => name === `+jsString(sender)+` && text === `+jsString(text)+`);
		return found ? "" : "messages " + JSON.stringify(seen);
	})()`)
}

// screenshots saves each tab's viewport when SWITCHBOARD_SCREENSHOTS names
// a directory.
func (b *browser) screenshots(t *testing.T, tabs ...*tab) {
	t.Helper()
	dir := os.Getenv("SWITCHBOARD_SCREENSHOTS")
	if dir == "" {
		return
	}
	for _, tb := range tabs {
		ctx, cancel := context.WithTimeout(tb.ctx, slower(evalTimeout))
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			t.Errorf("%s: screenshot: %v", tb.name, err)
			continue
		}
		path := filepath.Join(dir, "switchboard-"+strings.ToLower(tb.name)+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Error(err)
			continue
		}
		t.Logf("%s: screenshot in %s", tb.name, path)
	}
}

// readStates takes every open tab's window.switchboard.
func (b *browser) readStates() {
	b.states = make(map[*tab]string, len(b.tabs))
	for _, tb := range b.tabs {
		if tb.isClosed() {
			continue
		}
		state, err := eval[string](tb, `JSON.stringify(window.switchboard, null, 1)`)
		if err != nil {
			state = "unavailable: " + err.Error()
		}
		b.states[tb] = state
	}
}

// dump logs what each tab knew and said, for a failed run.
func (b *browser) dump(t *testing.T) {
	b.snapshot.Do(b.readStates) // unless the tabs' cleanup took them
	for _, tb := range b.tabs {
		if state, ok := b.states[tb]; ok {
			t.Logf("%s: window.switchboard = %s", tb.name, state)
		}
		tb.mu.Lock()
		t.Logf("%s: console:\n  %s", tb.name, strings.Join(tb.console, "\n  "))
		tb.mu.Unlock()
	}
	t.Logf("Chromium output (tail):\n%s", b.output.tail(4096))
}

// dropProxy forwards TCP connections to target and can cut them all.
type dropProxy struct {
	url    string
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
	refuseWS atomic.Bool
	down     atomic.Bool // close every new connection at once, as a dead server would
}

func startDropProxy(t *testing.T, target string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{url: "http://" + ln.Addr().String(), ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		ln.Close()
		p.dropAll()
		p.wg.Wait()
	})
	return p
}

func (p *dropProxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() || !p.track(down) {
			down.Close()
			continue
		}
		p.wg.Add(1)
		go p.connect(down)
	}
}

// connect forwards down to the target, unless WebSockets are refused and
// down opens with a WebSocket handshake: then it cuts it, as a proxy
// without Upgrade support would.
func (p *dropProxy) connect(down net.Conn) {
	defer p.wg.Done()
	var first []byte
	if p.refuseWS.Load() {
		buf := make([]byte, 4096)
		_ = down.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := down.Read(buf)
		_ = down.SetReadDeadline(time.Time{})
		if err != nil || bytes.HasPrefix(buf[:n], []byte("GET /v1/ws")) {
			down.Close()
			return
		}
		first = buf[:n]
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(up) {
		down.Close()
		if up != nil {
			up.Close()
		}
		return
	}
	if _, err := up.Write(first); err != nil {
		down.Close()
		return
	}
	p.wg.Add(2)
	go p.pipe(up, down)
	go p.pipe(down, up)
}

func (p *dropProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies one direction; when either side ends, both close.
func (p *dropProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// dropAll closes every open connection, both ways.
func (p *dropProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// lockedBuffer collects output written from other goroutines: the
// browser's, a command's log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
