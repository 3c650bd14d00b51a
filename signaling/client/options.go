package client

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// Transport names a kind of channel.
type Transport string

// The three channels of the protocol, in the default order of preference.
const (
	WebSocket Transport = "ws"
	SSE       Transport = "sse"
	Poll      Transport = "poll"
)

// Options tune a Client. Zero values take the documented defaults, which
// are those of the browser client.
type Options struct {
	// Transports to use, in order of preference. Defaults to WebSocket,
	// SSE, Poll; one entry forces that channel.
	Transports []Transport
	// FallbackAfter is how many attempts in a row may fail on one
	// channel before the next one gets a turn. Defaults to 2.
	FallbackAfter int
	// BackoffBase is the first reconnect delay (before jitter), doubled
	// on every failure up to BackoffCap. Default to 500 ms and 30 s.
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// ResumeBackoffCap caps the delay while a session can be resumed: the
	// server keeps a detached session for its grace period only (30 s by
	// default), and a reconnect after it loses every call. Defaults to 5 s.
	ResumeBackoffCap time.Duration
	// StableAfter is how long a channel must carry the session for the
	// backoff to start over. Defaults to 10 s.
	StableAfter time.Duration
	// UpgradeAfter is how long a fallback channel carries the session
	// before the client tries the first of Transports again (doubling
	// after each failed try, up to 5 minutes). Defaults to 30 s; negative
	// never tries.
	UpgradeAfter time.Duration
	// DialAttempts makes Dial give up after this many failed attempts
	// (on any transport) instead of trying until its ctx ends: a check
	// of one channel wants one attempt. Zero, the default: until ctx ends.
	DialAttempts int
	// RequestTimeout bounds the wait for a reply. Defaults to 10 s.
	RequestTimeout time.Duration
	// ConnectTimeout bounds a channel's opening, up to its welcome or
	// resume. Defaults to 10 s.
	ConnectTimeout time.Duration
	// PollTimeout bounds one long-poll (the server holds it 25 s).
	// Defaults to 60 s.
	PollTimeout time.Duration
	// NoICERenewal turns off fetching fresh TURN credentials before they
	// expire.
	NoICERenewal bool
	// NoFollowOwner keeps the session on the server dialed when joined
	// names the room's owner node. By default it moves there when the
	// owner is the dialed host (any port) or a subdomain of it, and not
	// a downgrade from https.
	NoFollowOwner bool
	// SendRate and SendBurst pace frames below the server's 50/s and 100.
	// Default to 40/s and 80.
	SendRate  float64
	SendBurst int
	// SendByteRate and SendByteBurst pace bytes below the server's
	// 32 KiB/s and 256 KiB. Default to 24 KiB/s and 192 KiB.
	SendByteRate  int
	SendByteBurst int
	// MaxQueued bounds the frames waiting to be sent. Defaults to 2000.
	MaxQueued int
	// EventQueue bounds the events received but not yet taken from
	// Events(); past it the client stops reading from the server.
	// Defaults to 1024.
	EventQueue int
	// Origin, when set, is sent as the Origin header (the server checks
	// it like a browser's). Defaults to none, which the server allows for
	// programs.
	Origin string
	// Header is added to every request.
	Header http.Header
	// TLS configures https and wss connections; nil uses the defaults.
	TLS *tls.Config
	// HTTPClient makes the SSE, poll and send requests. Defaults to one
	// with TLS and no overall timeout (each request has its own).
	HTTPClient *http.Client
	// Logger defaults to discarding.
	Logger *slog.Logger

	ownHTTP bool // HTTPClient is the client's own: Close closes its connections
}

// The server's limit on a frame and on a POST body.
const maxFrameBytes = 64 << 10

const maxUpgradeDelay = 5 * time.Minute

func (o *Options) setDefaults() {
	if len(o.Transports) == 0 {
		o.Transports = []Transport{WebSocket, SSE, Poll}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.FallbackAfter <= 0 {
		o.FallbackAfter = 2
	}
	def(&o.BackoffBase, 500*time.Millisecond)
	def(&o.BackoffCap, 30*time.Second)
	def(&o.ResumeBackoffCap, 5*time.Second)
	def(&o.StableAfter, 10*time.Second)
	def(&o.UpgradeAfter, 30*time.Second)
	def(&o.RequestTimeout, 10*time.Second)
	def(&o.ConnectTimeout, 10*time.Second)
	def(&o.PollTimeout, 60*time.Second)
	if o.SendRate <= 0 {
		o.SendRate = 40
	}
	if o.SendBurst <= 0 {
		o.SendBurst = 80
	}
	if o.SendByteRate <= 0 {
		o.SendByteRate = 24 << 10
	}
	if o.SendByteBurst <= 0 {
		o.SendByteBurst = 192 << 10
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 2000
	}
	if o.EventQueue <= 0 {
		o.EventQueue = 1024
	}
	if o.HTTPClient == nil {
		o.ownHTTP = true
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			TLSClientConfig: o.TLS, Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true,
			MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second,
		}}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func (o *Options) validate() error {
	for _, t := range o.Transports {
		if !slices.Contains([]Transport{WebSocket, SSE, Poll}, t) {
			return fmt.Errorf("%w: unknown transport %q (want ws, sse or poll)", errBadOptions, t)
		}
	}
	for _, d := range []time.Duration{o.BackoffBase, o.BackoffCap, o.ResumeBackoffCap, o.StableAfter, o.RequestTimeout, o.ConnectTimeout, o.PollTimeout} {
		if d < 0 {
			return fmt.Errorf("%w: negative duration %s", errBadOptions, d)
		}
	}
	if o.BackoffBase > o.BackoffCap {
		return fmt.Errorf("%w: BackoffBase %s over BackoffCap %s", errBadOptions, o.BackoffBase, o.BackoffCap)
	}
	if o.SendByteBurst < maxFrameBytes {
		return fmt.Errorf("%w: SendByteBurst %d below one frame (%d)", errBadOptions, o.SendByteBurst, maxFrameBytes)
	}
	return nil
}
