package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/web"
)

// The JavaScript client's own tests (web/client/test) run under Node's
// test runner against a server started here; its declarations are
// checked with tsc. Node and npm come from apt (scripts/test.sh); the
// test dependencies (typescript, ws) from npm, into
// web/client/test/node_modules, which git ignores.

const (
	jsTestDir     = "../../web/client/test"
	npmTimeout    = 5 * time.Minute  // a cold npm cache on a busy machine
	nodeTestLimit = 3 * time.Minute  // every node test together
	tscTimeout    = 2 * time.Minute  // one tsc run
	jsPkgTimeout  = 30 * time.Second // one node program of the README
)

// findNode returns the node binary. Without one the test is skipped
// locally, but fails in CI, where a skip would hide a broken setup.
func findNode(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node not found (scripts/test.sh installs nodejs and npm with apt-get)")
		}
		t.Skip("node not found: install nodejs and npm (apt-get install nodejs npm)")
	}
	return p
}

var npmOnce struct {
	sync.Once
	err error
	out []byte
}

// jsTestDeps installs web/client/test's dependencies from its lock file
// once per run, unless they are there already and not older than it.
func jsTestDeps(t *testing.T) {
	t.Helper()
	npmOnce.Do(func() {
		installed, err := os.Stat(filepath.Join(jsTestDir, "node_modules", ".package-lock.json"))
		lock, lockErr := os.Stat(filepath.Join(jsTestDir, "package-lock.json"))
		if err == nil && lockErr == nil && !installed.ModTime().Before(lock.ModTime()) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = jsTestDir
		npmOnce.out, npmOnce.err = cmd.CombinedOutput()
	})
	if npmOnce.err != nil {
		t.Fatalf("npm ci in web/client/test: %v\n%s", npmOnce.err, npmOnce.out)
	}
}

// TestJSClientNode runs the client's node tests against a real server on
// a loopback port: every channel, a cut connection and its resume, TURN
// credentials, refusals; and the README's Node example.
func TestJSClientNode(t *testing.T) {
	parallel(t)
	node := findNode(t)
	jsTestDeps(t)
	// Channels end soon, so the tests see the client ride over a server
	// that ends its event stream or answers a poll empty.
	app := startApp(t, shortChannelAges)
	ctx, cancel := context.WithTimeout(context.Background(), nodeTestLimit)
	defer cancel()
	files, err := filepath.Glob(filepath.Join(jsTestDir, "*.test.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no node tests in %s: %v", jsTestDir, err)
	}
	args := []string{"--test", "--test-reporter=spec"}
	for _, f := range files {
		args = append(args, filepath.Base(f))
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = jsTestDir
	cmd.Env = append(os.Environ(), "SB_URL="+app.httpURL, "SB_SSE_MAX_AGE="+sseMaxAgeForTest.String(), "NODE_OPTIONS=")
	out, err := cmd.CombinedOutput()
	if err != nil || testing.Verbose() {
		t.Logf("node --test:\n%s", out)
	}
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
}

// TestJSClientTypes type-checks an example app against index.d.ts with
// tsc --noEmit: it imports the package by name, as a bundler would.
func TestJSClientTypes(t *testing.T) {
	parallel(t)
	node := findNode(t)
	jsTestDeps(t)
	ctx, cancel := context.WithTimeout(context.Background(), tscTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "node_modules/typescript/bin/tsc", "--noEmit", "-p", "example")
	cmd.Dir = jsTestDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc --noEmit -p example: %v\n%s", err, out)
	}
}

// TestJSClientServedWithCORS: the binary serves the client at
// web.ClientPath, and answers CORS (on it and on /v1/) for the origins of
// -allowed-origins only; none by default.
func TestJSClientServedWithCORS(t *testing.T) {
	parallel(t)
	const app1 = "http://app.example:3000"
	for _, tc := range []struct {
		name    string
		allowed string
		origin  string
		acao    string // Access-Control-Allow-Origin on the module and on a preflight
		status  int    // of the preflight of POST /v1/send
	}{
		{"listed", app1, app1, app1, http.StatusNoContent},
		{"not listed", app1, "http://evil.example", "", http.StatusForbidden},
		{"none by default", "", app1, "", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := startApp(t, func(c *config) { c.AllowedOrigins = tc.allowed })
			get := func(method, path string, header map[string]string) *http.Response {
				t.Helper()
				req, err := http.NewRequest(method, app.httpURL+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Origin", tc.origin)
				for k, v := range header {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp
			}
			mod := get(http.MethodGet, web.ClientPath+"index.js", nil)
			if mod.StatusCode != http.StatusOK || !strings.HasPrefix(mod.Header.Get("Content-Type"), "text/javascript") {
				t.Errorf("GET %sindex.js: %d %s", web.ClientPath, mod.StatusCode, mod.Header.Get("Content-Type"))
			}
			if got := mod.Header.Get("Access-Control-Allow-Origin"); got != tc.acao {
				t.Errorf("module: Access-Control-Allow-Origin %q, want %q", got, tc.acao)
			}
			pre := get(http.MethodOptions, "/v1/send", map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
			if pre.StatusCode != tc.status || pre.Header.Get("Access-Control-Allow-Origin") != tc.acao {
				t.Errorf("preflight: %d, Access-Control-Allow-Origin %q; want %d, %q", pre.StatusCode, pre.Header.Get("Access-Control-Allow-Origin"), tc.status, tc.acao)
			}
			// The API still judges the request itself: a poll from an
			// origin it does not allow is refused whatever CORS says.
			poll := get(http.MethodGet, "/v1/poll", nil)
			want := http.StatusOK
			if tc.acao == "" {
				want = http.StatusForbidden
			}
			if poll.StatusCode != want || poll.Header.Get("Access-Control-Allow-Origin") != tc.acao {
				t.Errorf("poll: %d, Access-Control-Allow-Origin %q; want %d, %q", poll.StatusCode, poll.Header.Get("Access-Control-Allow-Origin"), want, tc.acao)
			}
		})
	}
}
