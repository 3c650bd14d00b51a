// Package check is `switchboard check`: what a browser needs from a
// Switchboard deployment, tried from wherever the operator runs it. Each
// check yields one Result: a pass, or a failure with the likely cause and
// what to do. docs/troubleshooting.md maps each failure to its causes.
package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config says what to check.
type Config struct {
	// URL is the server's public URL, e.g. https://meet.example.com.
	URL string
	// TURNURL, with TURNSecret, checks a relay the server does not hand
	// out itself (e.g. a `switchboard turn` host): turn:host:port or
	// turns:host:port, credentials minted from the shared secret.
	TURNURL    string
	TURNSecret string
	// JoinToken is passed on join, for servers started with -join-secret.
	JoinToken string
	// Timeout bounds each step. Defaults to 10 seconds.
	Timeout time.Duration
	// Origin is sent on every request. Defaults to URL's origin, which the
	// server always accepts.
	Origin string
	// RootCAs verifies the server's and the relay's certificates; nil
	// means the system's roots.
	RootCAs *x509.CertPool

	sigHost string // the host signaling is reached at
	tls     *tls.Config
	http    *http.Client
}

func (c *Config) setDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
}

func (c *Config) validate() (*url.URL, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q (want http(s)://host[:port])", errBadURL, c.URL)
	}
	if (c.TURNURL == "") != (c.TURNSecret == "") {
		return nil, errTURNPair
	}
	if c.Origin == "" {
		c.Origin = u.Scheme + "://" + u.Host
	}
	c.sigHost = u.Hostname()
	c.tls = &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
	c.http = &http.Client{Transport: &http.Transport{TLSClientConfig: c.tls.Clone(), Proxy: http.ProxyFromEnvironment}}
	return u, nil
}

// tlsFor is the TLS configuration for a connection to host.
func (c *Config) tlsFor(host string) *tls.Config {
	t := c.tls.Clone()
	t.ServerName = host
	return t
}

// Result is one line of the report.
type Result struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Hint   string `json:"hint,omitempty"`
}

func pass(check, detail string, args ...any) Result {
	return Result{Check: check, OK: true, Detail: fmt.Sprintf(detail, args...)}
}

func fail(check, hint, detail string, args ...any) Result {
	return Result{Check: check, Detail: fmt.Sprintf(detail, args...), Hint: hint}
}

// Run performs every check in order: TLS, each signaling channel, the ICE
// servers handed out, STUN, the NAT this machine is behind, TURN per
// transport, then a relay-only call between two peers through the server.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg.setDefaults()
	u, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	defer cfg.http.CloseIdleConnections()
	var results []Result
	if u.Scheme == "https" {
		results = append(results, checkTLS(ctx, cfg, u))
	}
	chans, welcome := checkChannels(ctx, cfg, u)
	results = append(results, chans...)
	if welcome == nil {
		return append(results, fail("ICE servers", "Fix signaling first: nothing below can be checked without a session.",
			"no channel gave a welcome")), nil
	}
	if welcome.JoinErr != nil {
		return append(results, fail("ICE servers", joinHint(cfg),
			"no room joined for TURN credentials (%v)", welcome.JoinErr)), nil
	}
	results = append(results, checkICEServers(welcome.ICEServers))
	stuns := checkSTUN(ctx, cfg, welcome.ICEServers)
	results = append(results, stuns...)
	results = append(results, checkNAT(ctx, cfg, welcome.ICEServers)...)
	turns, summary := checkTURN(ctx, cfg, welcome.ICEServers, udpSilentHosts(stuns))
	results = append(results, turns...)
	results = append(results, checkCall(ctx, cfg, u, summary))
	return results, nil
}

// joinHint explains a join refused to the check: the server hands TURN
// credentials only to a session in a room.
func joinHint(cfg Config) string {
	if cfg.JoinToken == "" {
		return "The server hands out TURN credentials only in a room, and refused the check's join: a server started with -join-secret needs -join-token (a token for rooms named switchboard-check-*)."
	}
	return "The server hands out TURN credentials only in a room, and refused the check's join: check that -join-token covers rooms named switchboard-check-* and has not expired."
}

// Failed reports whether any check failed.
func Failed(results []Result) bool {
	for _, r := range results {
		if !r.OK {
			return true
		}
	}
	return false
}

// Print writes one line per check, ✓ or ✗, with the hint under a failure.
func Print(w io.Writer, results []Result) {
	for _, r := range results {
		mark := "✓"
		if !r.OK {
			mark = "✗"
		}
		fmt.Fprintf(w, "%s %s: %s\n", mark, r.Check, r.Detail)
		if r.Hint != "" {
			fmt.Fprintf(w, "    → %s\n", strings.ReplaceAll(r.Hint, "\n", "\n      "))
		}
	}
}

// PrintJSON writes the results as one JSON document for monitoring.
func PrintJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		OK      bool     `json:"ok"`
		Results []Result `json:"results"`
	}{!Failed(results), results})
}
