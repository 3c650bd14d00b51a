package signaling

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// originAllowed admits requests without Origin (non-browser clients),
// from the server's own origin, and from the configured list. An origin
// matches on scheme, host and port alike.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	// A browser's Origin is scheme://host[:port], nothing more: one with
	// user info or a path was written by something else.
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) && u.Scheme == s.requestScheme(r) && s.hostAllowed(r.Host) {
		return true
	}
	for _, allowed := range s.cfg.AllowedOrigins {
		if allowed == "*" || strings.EqualFold(allowed, origin) {
			return true
		}
	}
	for _, pub := range s.cfg.PublicURLs {
		if strings.EqualFold(pub, origin) {
			return true
		}
	}
	return false
}

// requestScheme is the scheme the client used: https when TLS ends here,
// or when a trusted proxy says it ended there.
func (s *Server) requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if s.trusted(remoteAddr(r.RemoteAddr)) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return "https"
	}
	return "http"
}

// hostAllowed admits a Host header naming one of the public URLs'
// hosts, localhost, or an IP address. Any other name is how a DNS
// rebinding page reaches a server on a private address: its Host is the
// attacker's domain.
func (s *Server) hostAllowed(hostport string) bool {
	if hostport == "" {
		return true // HTTP/1.0 without Host (a load balancer's check): no browser sends that
	}
	host := hostport
	if h, _, ok := strings.Cut(hostport, ":"); ok && !strings.HasPrefix(hostport, "[") {
		host = h
	} else if strings.HasPrefix(hostport, "[") {
		host, _, _ = strings.Cut(hostport[1:], "]")
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	for _, pub := range s.cfg.PublicURLs {
		if u, err := url.Parse(pub); err == nil && strings.EqualFold(u.Hostname(), host) {
			return true
		}
	}
	return false
}

// GuardHost refuses requests whose Host is not one the server is served
// under (see hostAllowed) with 421 and a JSON error; wrap every public
// handler in it.
func (s *Server) GuardHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			s.httpError(w, r, http.StatusMisdirectedRequest, wire.NewError(wire.CodeBadHost,
				"host %q is not one this server is served under; its operator can add it with -public-url", wire.Truncate(r.Host, 128)))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.User == nil
}
