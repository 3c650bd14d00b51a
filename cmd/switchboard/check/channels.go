package check

import (
	"context"
	"net/url"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/client"
)

// iceServer is one entry of RTCConfiguration.iceServers.
type iceServer = client.ICEServer

// welcome is what the checks after signaling need of a session: the
// ICE servers the server hands a peer in a room (the latest of welcome
// and joined: a room's relay, or TURN credentials issued per room).
type welcome struct {
	ICEServers []iceServer
	// JoinErr is why the check's join into a room of its own was refused
	// (nil: it joined); TURN credentials may come only with joined.
	JoinErr error
}

// clientOptions are the signaling client's for the checks: one attempt
// per channel, the operator's origin and certificates.
func clientOptions(cfg Config, transports ...client.Transport) client.Options {
	return client.Options{
		Transports: transports, DialAttempts: 1, ConnectTimeout: cfg.Timeout, RequestTimeout: cfg.Timeout,
		Origin: cfg.Origin, TLS: cfg.tls.Clone(), HTTPClient: cfg.http, NoICERenewal: true, NoFollowOwner: true,
	}
}

// checkChannels opens a session on each channel and ends it again. It
// returns the ICE servers a peer gets, for the checks after it.
func checkChannels(ctx context.Context, cfg Config, u *url.URL) ([]Result, *welcome) {
	var results []Result
	var first *welcome
	for _, ch := range []struct {
		name      string
		transport client.Transport
		hint      string
	}{
		{"Signaling over WebSocket", client.WebSocket, "Browsers fall back to SSE or polling, with more latency. " +
			"A proxy in front of the server is refusing the upgrade: forward the Upgrade and Connection headers for /v1/ws (nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\")."},
		{"Signaling over server-sent events", client.SSE, "A proxy is buffering or cutting the event stream: disable buffering for /v1/sse (nginx: proxy_buffering off) and allow responses longer than 30 s."},
		{"Signaling over long-polling", client.Poll, "Long-polling is the last fallback: check that /v1/poll and /v1/send reach the server and that requests may last 25 s."},
	} {
		step, cancel := context.WithTimeout(ctx, cfg.Timeout)
		start := time.Now()
		c, err := client.Dial(step, u.String(), clientOptions(cfg, ch.transport))
		if err != nil {
			cancel()
			results = append(results, fail(ch.name, ch.hint, "%v", err))
			continue
		}
		results = append(results, pass(ch.name, "session opened in %s", roundMS(time.Since(start))))
		if first == nil {
			servers, joinErr := roomServers(step, cfg, c)
			first = &welcome{ICEServers: servers, JoinErr: joinErr}
		}
		cancel()
		_ = c.Close() // a bye: the session ends at once
	}
	return results, first
}

// roomServers are the ICE servers of a session in a room of its own:
// a server may hand out TURN credentials only with joined. Without a
// join (a closed room and no -join-token) they are the welcome's.
func roomServers(ctx context.Context, cfg Config, c *client.Client) ([]iceServer, error) {
	j, err := c.Join(ctx, randomRoom(), client.JoinOptions{Name: "check", Token: cfg.JoinToken})
	if err == nil && len(j.ICEServers) > 0 {
		// The joined frame's own: the client's snapshot (ICEServers) may
		// not have taken them yet when Join returns.
		return j.ICEServers, nil
	}
	return c.ICEServers(), err
}

func roundMS(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}
