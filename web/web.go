// Package web serves the demo page: a video call with chat between
// browser tabs, built on the signaling protocol alone (static/client.js).
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the embedded demo files for a single node: the page
// connects to its own origin only (a script injected into it could not
// send anything elsewhere).
func Handler() http.Handler { return handler("'self'") }

// ClusterHandler serves them for a node of a cluster, whose page follows
// its room to the node the room is placed on (joined.owner), an origin it
// does not know in advance: it may connect to any host.
func ClusterHandler() http.Handler { return handler("'self' ws: wss: http: https:") }

func handler(connectSrc string) http.Handler {
	csp := "default-src 'self'; connect-src " + connectSrc + "; media-src 'self' blob: mediastream:; img-src 'self' data:; frame-ancestors 'none'"
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder exists
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", csp)
		// No framing (clickjacking the camera prompt), and room names,
		// which are in URLs, never leak through Referer.
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	})
}
