package web

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// corsMaxAge is how long (seconds) a browser may reuse a preflight's
// answer: a POST /v1/send per batch of frames would otherwise cost two
// requests each.
const corsMaxAge = "600"

// corsPolicy answers the origins of -allowed-origins with CORS headers.
// The signaling endpoints check Origin themselves (403 bad_origin);
// CORS only lets an allowed page on another origin read their answers,
// which an event stream, a poll or a POST needs, and a WebSocket does not.
type corsPolicy struct {
	any     bool
	origins map[string]bool // lower case
}

func newCORS(allowed []string) corsPolicy {
	p := corsPolicy{origins: map[string]bool{}}
	for _, o := range allowed {
		if o == "*" {
			p.any = true
		}
		p.origins[strings.ToLower(o)] = true
	}
	return p
}

func (p corsPolicy) allowed(origin string) bool {
	return origin != "" && (p.any || p.origins[strings.ToLower(origin)])
}

// allow sets Access-Control-Allow-Origin when r comes from an allowed
// origin, and says in Vary that the answer depends on Origin (a cache
// must not hand one origin's answer to another).
func (p corsPolicy) allow(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if !p.allowed(origin) {
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	return true
}

// CORS wraps the signaling API (/v1/) for pages on the allowed origins
// (the server's -allowed-origins; "*" for any): their requests' answers
// carry Access-Control-Allow-Origin, and their preflights (a POST with
// Authorization and a JSON body, GET /v1/ice-servers with Authorization)
// are answered here. A preflight from any other origin is refused with
// 403 bad_origin, as the request itself would be. Without allowed
// origins h is returned as it is: same-origin pages need no CORS.
func CORS(allowedOrigins []string, h http.Handler) http.Handler {
	if len(allowedOrigins) == 0 {
		return h
	}
	p := newCORS(allowedOrigins)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			p.preflight(w, r)
			return
		}
		p.allow(w, r)
		h.ServeHTTP(w, r)
	})
}

func (p corsPolicy) preflight(w http.ResponseWriter, r *http.Request) {
	if !p.allow(w, r) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(wire.ErrorFrame{Type: "error", Code: wire.CodeBadOrigin,
			Message: "origin is not in the server's -allowed-origins"})
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}
