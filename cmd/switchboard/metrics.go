package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// localOnly lets through requests made on this host directly: from a
// loopback address and without the headers a proxy adds. Anything else,
// which on the public port means the internet, gets 403. A deployment that
// scrapes from elsewhere gives /metrics a listener of its own
// (-metrics-addr) instead.
func localOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		proxied := r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-IP") != ""
		if err != nil || !ap.Addr().Unmap().IsLoopback() || proxied {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"type":"error","code":"forbidden","message":"/metrics on the public port answers this host only; set -metrics-addr to scrape from elsewhere"}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveMetrics serves /metrics on a listener of its own and returns a
// function that stops it.
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	go func() { _ = srv.Serve(ln) }()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}
