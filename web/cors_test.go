package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestClientCORS: the client's files carry Access-Control-Allow-Origin
// for the allowed origins only (a module script is a CORS fetch), and
// the demo's handler serves them to the page's own origin.
func TestClientCORS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		h       http.Handler
		origin  string
		want    string // Access-Control-Allow-Origin
		wantCT  string
		path    string
		wantBox string // body substring
	}{
		{"listed", ClientHandler([]string{"http://app.example:3000"}), "http://app.example:3000", "http://app.example:3000", "text/javascript", "/client/v1/index.js", "export"},
		{"listed, other case", ClientHandler([]string{"http://App.example:3000"}), "http://app.example:3000", "http://app.example:3000", "text/javascript", "/client/v1/client.js", "SignalingClient"},
		{"any", ClientHandler([]string{"*"}), "https://elsewhere.example", "https://elsewhere.example", "text/javascript", "/client/v1/room.js", "class Room"},
		{"not listed", ClientHandler([]string{"http://app.example:3000"}), "http://evil.example", "", "text/javascript", "/client/v1/index.js", "export"},
		{"none by default", ClientHandler(nil), "http://app.example:3000", "", "text/javascript", "/client/v1/index.js", "export"},
		{"same origin, demo handler", Handler(), "", "", "text/javascript", "/client/v1/index.js", "export"},
		{"declarations", ClientHandler(nil), "", "", "text/plain", "/client/v1/index.d.ts", "declare class Room"},
		{"package.json", ClientHandler(nil), "", "", "application/json", "/client/v1/package.json", `"@switchboard-rtc/client"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != tc.want {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.want)
			}
			if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, tc.wantCT) {
				t.Errorf("Content-Type %q, want %s", got, tc.wantCT)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if !strings.Contains(rec.Body.String(), tc.wantBox) {
				t.Errorf("body lacks %q", tc.wantBox)
			}
		})
	}
}

// TestClientOnlyGET: the client's files are read, never posted to.
func TestClientOnlyGET(t *testing.T) {
	rec := httptest.NewRecorder()
	ClientHandler(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/client/v1/index.js", strings.NewReader("x")))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: status %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// TestAPICORS: an allowed origin's requests and preflights to the API
// are answered with CORS headers; another origin's preflight gets 403
// bad_origin; without allowed origins the API is left as it is.
func TestAPICORS(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[]`)
	})
	h := CORS([]string{"http://app.example:3000"}, api)
	send := func(method, origin, reqMethod string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/v1/send", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if reqMethod != "" {
			req.Header.Set("Access-Control-Request-Method", reqMethod)
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	pre := send(http.MethodOptions, "http://app.example:3000", "POST")
	if pre.Code != http.StatusNoContent {
		t.Fatalf("preflight: status %d", pre.Code)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":  "http://app.example:3000",
		"Access-Control-Allow-Methods": "GET, POST",
		"Access-Control-Allow-Headers": "Authorization, Content-Type, Last-Event-ID",
		"Access-Control-Max-Age":       corsMaxAge,
		"Vary":                         "Origin",
	} {
		if got := pre.Header().Get(k); got != want {
			t.Errorf("preflight %s %q, want %q", k, got, want)
		}
	}

	post := send(http.MethodPost, "http://app.example:3000", "")
	if post.Code != http.StatusOK || post.Header().Get("Access-Control-Allow-Origin") != "http://app.example:3000" || post.Body.String() != "[]" {
		t.Errorf("POST: status %d, ACAO %q, body %q", post.Code, post.Header().Get("Access-Control-Allow-Origin"), post.Body)
	}

	refused := send(http.MethodOptions, "http://evil.example", "POST")
	var e struct{ Type, Code, Message string }
	if err := json.Unmarshal(refused.Body.Bytes(), &e); err != nil || refused.Code != http.StatusForbidden || e.Code != "bad_origin" || e.Message == "" {
		t.Errorf("other origin's preflight: status %d, body %q", refused.Code, refused.Body)
	}
	if got := refused.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("other origin's preflight: Access-Control-Allow-Origin %q", got)
	}
	// The API itself judges other origins' requests (403 bad_origin).
	if other := send(http.MethodPost, "http://evil.example", ""); other.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin's POST: Access-Control-Allow-Origin %q", other.Header().Get("Access-Control-Allow-Origin"))
	}

	if CORS(nil, api) == nil {
		t.Fatal("nil handler")
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/poll", nil)
	req.Header.Set("Origin", "http://app.example:3000")
	CORS(nil, api).ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("without allowed origins: Access-Control-Allow-Origin %q", got)
	}
}
