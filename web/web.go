// Package web serves the demo page, a video call with chat between
// browser tabs, and the JavaScript client it is built on (client/, the
// ES module package @switchboard-rtc/client), which pages on other
// origins import from ClientPath.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
)

//go:embed static
var static embed.FS

// The package's files only: its tests and their node_modules stay out of
// the binary.
//
//go:embed client/*.js client/*.d.ts client/package.json client/README.md
var clientFiles embed.FS

// ClientPath is where the JavaScript client is served, versioned with the
// protocol (docs/protocol.md, v1): a page imports ClientPath+"index.js".
// Its files change only compatibly while the protocol is v1.
const ClientPath = "/client/v1/"

// Handler serves the embedded demo files for a single node: the page
// connects to its own origin only (a script injected into it could not
// send anything elsewhere). The client the page imports is under
// ClientPath, for the page's own origin; ClientHandler serves it to
// others.
func Handler() http.Handler { return handler("'self'") }

// ClusterHandler serves them for a node of a cluster, whose page follows
// its room to the node the room is placed on (joined.owner), an origin it
// does not know in advance: it may connect to any host.
func ClusterHandler() http.Handler { return handler("'self' ws: wss: http: https:") }

func handler(connectSrc string) http.Handler {
	csp := "default-src 'self'; connect-src " + connectSrc + "; media-src 'self' blob: mediastream:; img-src 'self' data:; frame-ancestors 'none'"
	files := http.FileServerFS(sub(static, "static"))
	mux := http.NewServeMux()
	mux.Handle(ClientPath, ClientHandler(nil))
	mux.Handle("/", files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", csp)
		// No framing (clickjacking the camera prompt), and room names,
		// which are in URLs, never leak through Referer.
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}

// ClientHandler serves the JavaScript client under ClientPath. A module
// script is fetched with CORS, so a page on another origin can import it
// only when that origin is in allowedOrigins (the server's
// -allowed-origins, "*" for any): those get Access-Control-Allow-Origin,
// the rest nothing, and their browsers refuse the import.
func ClientHandler(allowedOrigins []string) http.Handler {
	files := http.StripPrefix(ClientPath, http.FileServerFS(sub(clientFiles, "client")))
	cors := newCORS(allowedOrigins)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// Revalidated on every load: the path stays the same across
		// compatible releases, the files do not.
		w.Header().Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		cors.allow(w, r)
		switch path.Ext(r.URL.Path) {
		case ".ts": // declarations; the system's table may say MPEG transport stream
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		case ".md":
			w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		}
		files.ServeHTTP(w, r)
	})
}

func sub(fsys fs.FS, dir string) fs.FS {
	root, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the embed pattern guarantees the folder exists
	}
	return root
}
