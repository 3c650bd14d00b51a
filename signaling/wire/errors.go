package wire

import (
	"errors"
	"fmt"
)

// Error codes sent to clients in {"type":"error"} frames, HTTP error bodies
// and WebSocket close reasons. They are part of the protocol contract
// (docs/protocol.md): never rename one.
const (
	CodeBadJSON         = "bad_json"          // frame is not a JSON object, or a field has the wrong type
	CodeUnknownType     = "unknown_type"      // "type" names no request
	CodeMissingField    = "missing_field"     // a required field is absent
	CodeBadRoom         = "bad_room"          // room name is not 1-64 of [A-Za-z0-9._-]
	CodeBadName         = "bad_name"          // display name too long or not printable UTF-8
	CodeBadClient       = "bad_client"        // join's client is not 16-64 of [A-Za-z0-9._-]
	CodeAlreadyInRoom   = "already_in_room"   // join while in a room: leave first
	CodeNotInRoom       = "not_in_room"       // relay, leave or echo without a room; GET /v1/ice-servers (HTTP 403) outside a room
	CodeUnknownPeer     = "unknown_peer"      // "to" is not another peer in the sender's room
	CodeRoomFull        = "room_full"         // room holds Config.MaxPeersPerRoom peers
	CodeTooLarge        = "too_large"         // frame over Config.MaxMessageSize (close 1009)
	CodeRateLimited     = "rate_limited"      // over the per-session token bucket; frame dropped
	CodeSlowConsumer    = "slow_consumer"     // unsent events over the replay buffer's bounds (close 1008)
	CodeOverBudget      = "over_budget"       // the server's buffer budget is spent and this session held the most unacknowledged bytes (close 1008)
	CodeBadOrigin       = "bad_origin"        // HTTP 403: Origin neither same-origin nor allowed
	CodeBadHost         = "bad_host"          // HTTP 421: Host is no public URL's host, localhost or an IP (DNS rebinding)
	CodeUnauthorized    = "unauthorized"      // HTTP 401: missing or unknown session token; join without a valid join token
	CodeForbidden       = "forbidden"         // the join token does not cover the room
	CodeShutdown        = "shutdown"          // server is stopping (close 1001)
	CodeResumeFailed    = "resume_failed"     // token unknown, grace period over or events lost: a new session follows
	CodeReplaced        = "replaced"          // another channel took the session over (close 4001, poll 409)
	CodeResume          = "resume"            // the server ended the channel: resume at once (close 4000)
	CodeBadRequest      = "bad_request"       // HTTP 400: a malformed query parameter or header
	CodeBye             = "bye"               // the client ended its session on purpose
	CodeTimeout         = "timeout"           // HTTP 408: a request body did not arrive within Config.BodyTimeout
	CodeServerFull      = "server_full"       // HTTP 503: the server holds Config.MaxSessions sessions
	CodeTooManySessions = "too_many_sessions" // HTTP 429: the client's address holds Config.MaxSessionsPerAddr sessions
	CodeUnavailable     = "unavailable"       // the cluster's shared state (Redis) did not answer: the join or relay did not happen; retry
	CodeSessionMoved    = "session_moved"     // HTTP 503 to POST /v1/send: the session ended or moved while the request was handled; resume and send it again
	CodeEchoOff         = "echo_off"          // echo asked of a server started without -echo
	CodeEchoBusy        = "echo_busy"         // echo: this address, or the server, runs as many echo peers as allowed
)

// WebSocket close codes of our own (the 4000-4999 range is the
// application's).
const (
	CloseResume   = 4000 // reconnect at once and resume
	CloseReplaced = 4001 // another channel took over the session
)

// Error is a client-facing error: a machine code and a human message.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func NewError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

var errBadSeq = errors.New("not a sequence number")
