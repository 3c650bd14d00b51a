package web

import (
	"embed"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestWebServesDemo(t *testing.T) {
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		path        string
		contentType string // prefix
		body        string // substring
	}{
		{"/", "text/html", `<script type="module" src="app.js">`},
		{"/client/v1/index.js", "text/javascript", "export { Room }"},
		{"/client/v1/client.js", "text/javascript", "export class SignalingClient"},
		{"/client/v1/channels.js", "text/javascript", "export class SseChannel"},
		{"/client/v1/outbox.js", "text/javascript", "export class Outbox"},
		{"/client/v1/reconnect.js", "text/javascript", "export class Redial"},
		{"/client/v1/ice.js", "text/javascript", "export class IceRefresher"},
		{"/client/v1/call.js", "text/javascript", "export class Call"},
		{"/client/v1/index.d.ts", "", "export declare class SignalingClient"},
		{"/app.js", "text/javascript", "window.switchboard"},
		{"/style.css", "text/css", ".tile"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type %q, want %s", ct, tt.contentType)
			}
			if strings.HasPrefix(tt.path, "/client/") {
				return // the client's headers: TestClientCORS
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "connect-src 'self';", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s %q, want %q", h, got, want)
				}
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body lacks %q", tt.body)
			}
		})
	}
}

// The CSP forbids inline code; a stray inline script, style or event
// handler would break the page in browsers only.
func TestWebPageHasNoInlineCode(t *testing.T) {
	page, err := static.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := strings.ToLower(string(page))
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(tag, " src=") {
			t.Errorf("inline script %s", tag)
		}
	}
	for _, m := range regexp.MustCompile(`<style|\sstyle=|\son[a-z]+=|javascript:`).FindAllString(html, -1) {
		t.Errorf("index.html contains %q, which the CSP blocks", strings.TrimSpace(m))
	}
}

// The demo and the client are split into ES modules; an import of a file
// that is not embedded would break the page in browsers only. The demo
// imports the client from ClientPath, the client only from itself.
func TestWebModuleImportsResolve(t *testing.T) {
	importRE := regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"`)
	for _, dir := range []struct {
		fsys embed.FS
		name string
	}{{static, "static"}, {clientFiles, "client"}} {
		entries, err := dir.fsys.ReadDir(dir.name)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".js") {
				continue
			}
			src, err := dir.fsys.ReadFile(dir.name + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range importRE.FindAllStringSubmatch(string(src), -1) {
				fsys, file := dir.fsys, ""
				switch {
				case strings.HasPrefix(m[1], "./"):
					file = dir.name + "/" + strings.TrimPrefix(m[1], "./")
				case dir.name == "static" && strings.HasPrefix(m[1], ClientPath):
					fsys, file = clientFiles, "client/"+strings.TrimPrefix(m[1], ClientPath)
				default:
					t.Errorf("%s/%s imports %s: only ./ files (and the demo %s) are served", dir.name, e.Name(), m[1], ClientPath)
					continue
				}
				if _, err := fsys.ReadFile(file); err != nil {
					t.Errorf("%s/%s imports %s, which is not served", dir.name, e.Name(), m[1])
				}
			}
			if n := strings.Count(string(src), "\n"); n > 500 {
				t.Errorf("%s/%s has %d lines; split it (the project keeps files under 500)", dir.name, e.Name(), n)
			}
		}
	}
}

// TestClusterPageConnectsAnywhere: a cluster's page may follow its room
// to another node's origin; a single node's connects to its own only.
func TestClusterPageConnectsAnywhere(t *testing.T) {
	for _, tc := range []struct {
		h    http.Handler
		want string
	}{{Handler(), "connect-src 'self';"}, {ClusterHandler(), "connect-src 'self' ws: wss: http: https:;"}} {
		rec := httptest.NewRecorder()
		tc.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, tc.want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, tc.want)
		}
	}
}
