package client

import (
	"errors"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// Error is a refusal from the server: a protocol code (wire.Code…) for
// programs and a message for people. Requests return it, match it with
// errors.As.
type Error = wire.Error

// Errors of the client itself, matched with errors.Is.
var (
	// ErrClosed: the client was closed, or ended (see Client.Err).
	ErrClosed = errors.New("signaling client closed")
	// ErrReplaced: another channel took the session over; the client ended.
	ErrReplaced = errors.New("session taken over by another channel")
	// ErrNoSession: there is no session to send on (between a failed
	// resume and the next welcome).
	ErrNoSession = errors.New("no signaling session")
	// ErrQueueFull: Options.MaxQueued frames already wait to be sent.
	ErrQueueFull = errors.New("send queue full")
	// ErrTooLarge: a frame over the server's 64 KiB limit; not sent.
	ErrTooLarge = errors.New("frame over 64 KiB")
	// ErrTimeout: no reply within Options.RequestTimeout.
	ErrTimeout = errors.New("no reply in time")
	// ErrSessionEnded: the session a request was sent in ended before
	// its reply came (a new session starts over).
	ErrSessionEnded = errors.New("session ended before the reply")
	// ErrLeft: Leave was called while a Join waited.
	ErrLeft = errors.New("left the room before joining")

	errDialFailed   = errors.New("no channel opened")
	errBadURL       = errors.New("not a server URL")
	errBadOptions   = errors.New("invalid client options")
	errNoWelcome    = errors.New("channel gave no welcome")
	errChannel      = errors.New("channel ended")
	errBadAnswer    = errors.New("server answered something else")
	errEventTooLong = errors.New("event stream line over the frame limit")
)
