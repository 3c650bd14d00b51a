package main

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// precallRow is one row of the page's connection test, as in
// window.switchboard.precall.rows.
type precallRow struct {
	Status, Detail, Hint, Channel string
}

// runPrecallTest opens the lobby, starts "Test my connection" from the
// keyboard and returns the rows once the test has finished.
func runPrecallTest(t *testing.T, b *browser, app *testApp, name string, query url.Values) (*tab, map[string]precallRow) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	tb := startPrecallTest(t, b, app, name, query, deadline)
	return tb, precallRows(t, b, tb, deadline)
}

// startPrecallTest opens the lobby and starts "Test my connection" from
// the keyboard.
func startPrecallTest(t *testing.T, b *browser, app *testApp, name string, query url.Values, deadline time.Time) *tab {
	t.Helper()
	tb := b.openTab(t, name, app.httpURL+"/?"+query.Encode())
	tb.waitFor(t, deadline, "the test button", `document.getElementById("precall-button") && window.switchboard.precall ? "" : "no button"`)
	ctx, cancel := context.WithTimeout(tb.ctx, slower(evalTimeout))
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.ID("precall-button")), chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatalf("%s: press the test button: %v", name, err)
	}
	return tb
}

// precallRows waits for the test started in tb to finish and returns its
// rows.
func precallRows(t *testing.T, b *browser, tb *tab, deadline time.Time) map[string]precallRow {
	t.Helper()
	name := tb.name
	tb.waitFor(t, deadline, "the connection test to finish", `(() => {
		const p = window.switchboard.precall;
		return p.done ? "" : (p.running ? "running: " : "not started: ") + JSON.stringify(p.rows);
	})()`)
	if focus, err := eval[string](tb, `document.activeElement.id`); err != nil || focus != "precall-button" {
		t.Errorf("%s: focus on %q after the test, want the button (%v)", name, focus, err)
	}
	if _, err := eval[bool](tb, `document.getElementById("precall-title").scrollIntoView(), true`); err == nil {
		b.screenshots(t, tb)
	}
	raw, err := eval[string](tb, `JSON.stringify(window.switchboard.precall.rows)`)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]precallRow{}
	if err := json.Unmarshal([]byte(raw), &rows); err != nil {
		t.Fatalf("rows %s: %v", raw, err)
	}
	t.Logf("%s: %s", name, raw)
	return rows
}

// TestBrowserPrecall: on a server with -echo every check passes on
// loopback (TURN over TLS is not offered without a certificate for the
// relay), with a round-trip time, loss and upload figure for both echo
// calls, and the page shows the outcomes in words; axe finds nothing
// serious. On a server without -echo, on a phone, the echo rows say the
// test is not offered and nothing overflows the screen; through a proxy
// that refuses WebSocket upgrades, signaling passes over SSE with a hint.
func TestBrowserPrecall(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	app := startApp(t, func(c *config) { c.Echo = true })
	b := newBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	tb, rows := runPrecallTest(t, b, app, "precall", nil)
	want := map[string]string{
		"signaling": "pass", "stun": "pass", "turn-udp": "pass", "turn-tcp": "pass", "turn-tls": "skip",
		"echo-direct": "pass", "echo-relay": "pass",
	}
	for id, status := range want {
		if rows[id].Status != status {
			t.Errorf("%s: %+v, want %s", id, rows[id], status)
		}
	}
	if rows["signaling"].Channel != "ws" || !strings.Contains(rows["signaling"].Detail, "WebSocket") {
		t.Errorf("signaling row %+v does not name WebSocket", rows["signaling"])
	}
	for _, id := range []string{"echo-direct", "echo-relay"} {
		for _, part := range []string{"round trip", "% loss", "bit/s"} {
			if !strings.Contains(rows[id].Detail, part) {
				t.Errorf("%s: %q lacks %q", id, rows[id].Detail, part)
			}
		}
	}
	if !strings.Contains(rows["echo-relay"].Detail, "through the relay") {
		t.Errorf("relay-only call not through the relay: %q", rows["echo-relay"].Detail)
	}
	text, err := eval[string](tb, `document.getElementById("precall-results").innerText + "\n" + document.getElementById("precall-summary").textContent`)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"Test call, relay only: Pass", "TURN relay over TLS: Not offered", "No test failed"} {
		if !strings.Contains(text, part) {
			t.Errorf("page text lacks %q:\n%s", part, text)
		}
	}
	for _, v := range axeViolations(t, tb) {
		t.Errorf("axe: %s", v)
	}

	off := startApp(t, nil)
	phone := newBrowser(t, chromium)
	phone.viewport = [2]int64{390, 844}
	ptab, rows := runPrecallTest(t, phone, off, "precall-phone-sse", url.Values{"transport": {"sse"}})
	for _, id := range []string{"echo-direct", "echo-relay"} {
		if r := rows[id]; r.Status != "skip" || !strings.Contains(r.Detail, "not offered by this server") || !strings.Contains(r.Detail, "-echo") {
			t.Errorf("%s without -echo: %+v", id, r)
		}
	}
	for _, id := range []string{"signaling", "stun", "turn-udp", "turn-tcp"} {
		if rows[id].Status != "pass" {
			t.Errorf("%s without -echo: %+v", id, rows[id])
		}
	}
	if r := rows["signaling"]; r.Channel != "sse" || !strings.Contains(r.Detail, "server-sent events") || r.Hint != "" {
		t.Errorf("signaling forced to SSE: %+v", r)
	}
	overflow, err := eval[string](ptab, `(() => {
		if (innerWidth > 420) return "viewport " + innerWidth;
		const wide = document.documentElement.scrollWidth > innerWidth;
		const rows = [...document.querySelectorAll(".precall-row")].filter((r) => r.getBoundingClientRect().right > innerWidth + 1);
		return wide || rows.length ? "overflow: page " + document.documentElement.scrollWidth + ", " + rows.length + " row(s)" : "";
	})()`)
	if err != nil || overflow != "" {
		t.Errorf("phone layout: %s %v", overflow, err)
	}

	// Through a proxy that refuses WebSocket upgrades the page falls back
	// to SSE, and the row says why.
	proxy := startDropProxy(t, strings.TrimPrefix(off.httpURL, "http://"))
	proxy.refuseWS.Store(true)
	_, rows = runPrecallTest(t, b, &testApp{httpURL: proxy.url}, "precall-no-websocket", nil)
	if r := rows["signaling"]; r.Status != "pass" || r.Channel != "sse" || !strings.Contains(r.Hint, "refuses WebSocket upgrades") {
		t.Errorf("signaling through a proxy refusing WebSocket: %+v", r)
	}
	for _, tb := range append(b.tabs, phone.tabs...) {
		for _, p := range tb.problemLines() {
			t.Errorf("%s: %s", tb.name, p)
		}
		// The test's requests all succeed: no 401 on /v1/send for a bye
		// POSTed after the WebSocket's own (issue 20). (A 401 from
		// /v1/ice-servers without a token is the client's reachability
		// probe before it falls back from WebSocket.)
		for _, line := range tb.networkErrors("/v1/send") {
			t.Errorf("%s: %s", tb.name, line)
		}
	}
}

// TestBrowserPrecallRelayUnreachable: a server advertising an address
// nobody listens on (127.0.0.2, as behind a NAT or in Docker without
// -public-ip): STUN and TURN fail with their hints and the failing URL,
// and both calls fail: the echo peer offers only the advertised address
// (issue 18: it no longer reveals the server's interface addresses), so
// it is as unreachable as the relay.
func TestBrowserPrecallRelayUnreachable(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	app := startApp(t, func(c *config) { c.Echo, c.PublicIP = true, "127.0.0.2" })
	b := newBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	tb, rows := runPrecallTest(t, b, app, "precall-unreachable", nil)
	for id, hint := range map[string]string{
		"stun":       "Nothing answers at 127.0.0.2:",
		"turn-udp":   "Nothing answers at 127.0.0.2:",
		"turn-tcp":   "Nothing answers at 127.0.0.2:",
		"echo-relay": "No TURN relay answered",
	} {
		r := rows[id]
		if r.Status != "fail" || !strings.Contains(r.Hint, hint) {
			t.Errorf("%s: %+v, want a failure with %q", id, r, hint)
		}
	}
	for _, id := range []string{"stun", "turn-udp", "turn-tcp"} {
		if !strings.Contains(rows[id].Detail, "127.0.0.2") {
			t.Errorf("%s does not name the URL that failed: %+v", id, rows[id])
		}
	}
	if rows["signaling"].Status != "pass" || rows["echo-direct"].Status != "fail" {
		t.Errorf("signaling %+v, direct call %+v: want signaling to pass, the call to fail", rows["signaling"], rows["echo-direct"])
	}
	text, err := eval[string](tb, `document.getElementById("precall-summary").textContent`)
	if err != nil || !strings.Contains(text, "5 of 7 tests failed") {
		t.Errorf("summary %q (%v)", text, err)
	}
}
