package client

import (
	"net/url"
	"strings"
)

// ownerOrigin is the origin the client may move its session to when
// joined names the room's owner node, or nil to stay: an http(s) or ws(s)
// URL, never from https down to http, whose host is the home server's
// host (any port) or a subdomain of it — the browser client's rule
// (docs/protocol.md, "Rooms"), which keeps the session token among the
// machines of the site that was dialed. Unlike a page, a program may
// follow on any transport: it has no CORS to pass.
func ownerOrigin(owner string, home *url.URL) *url.URL {
	if owner == "" {
		return nil
	}
	u, err := serverOrigin(owner)
	if err != nil {
		return nil
	}
	if home.Scheme == "https" && u.Scheme != "https" {
		return nil
	}
	h, o := home.Hostname(), u.Hostname()
	if o != h && !strings.HasSuffix(o, "."+h) {
		return nil
	}
	if u.String() == home.String() {
		return nil
	}
	return u
}
