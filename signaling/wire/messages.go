// Package wire is the signaling protocol as bytes (docs/protocol.md): the
// requests a client sends and their validation, including the fast path
// that decodes a relayed offer, answer or candidate without
// encoding/json; the frames the server sends; error codes; sequence
// numbers. It knows nothing of sessions, channels or engines.
package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"unicode/utf8"
)

// Request types a client may send.
const (
	TypeJoin      = "join"
	TypeEcho      = "echo"
	TypeLeave     = "leave"
	TypeOffer     = "offer"
	TypeAnswer    = "answer"
	TypeCandidate = "candidate"
	TypeMessage   = "message"
	TypePing      = "ping"
	TypeBye       = "bye"
)

// IsRelayed reports whether frames of type t go to other peers (offer,
// answer, candidate, message) rather than to the server.
func IsRelayed(t string) bool {
	switch t {
	case TypeOffer, TypeAnswer, TypeCandidate, TypeMessage:
		return true
	}
	return false
}

const (
	maxRoomLen = 64
	maxNameLen = 64 // bytes of UTF-8
	// MaxIDLen bounds a request id as JSON (quotes included): it comes
	// back as re in the reply, so an id of any size would let a session
	// fill its own replay buffer with pongs without joining a room.
	MaxIDLen = 64
)

// Request is one decoded client frame. Optional JSON values stay raw so the
// server can tell an absent field (nil) from an explicit null.
type Request struct {
	Type      string          `json:"type"`
	ID        json.RawMessage `json:"id,omitempty"`
	Room      string          `json:"room,omitempty"`
	Name      string          `json:"name,omitempty"`
	To        string          `json:"to,omitempty"`
	SDP       string          `json:"sdp,omitempty"` // DecodeRequest only
	Candidate json.RawMessage `json:"candidate,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Token     string          `json:"token,omitempty"` // join: the application's join token
	Relay     bool            `json:"relay,omitempty"` // echo: the echo peer uses TURN only
	// Client is join's: a secret the page keeps for its tab, the same
	// for every session the tab has; peers see only its tag
	// (PeerInfo.ClientTag).
	Client string `json:"client,omitempty"`
	// CSeq numbers the client's frames of a session (1, 2, …; 0: none):
	// the server handles each once and says which it has handled
	// (Resumed.Applied), so a client resends exactly the rest.
	CSeq uint64 `json:"cseq,omitempty"`

	SDPRaw []byte // sdp as a JSON string, as it is relayed
}

// DecodeRequest parses and validates one frame with encoding/json: the
// path for every frame DecodeRelayFast declines. On failure it still
// returns the request id when it could read one, so the error can echo it.
func DecodeRequest(frame []byte) (*Request, *Error) {
	var req Request
	if err := json.Unmarshal(frame, &req); err != nil {
		req.dropBadID()
		return &req, NewError(CodeBadJSON, "frame is not a valid request object: %v", err)
	}
	if !utf8.Valid(frame) {
		// Relayed as is, it would make the recipient's browser drop its
		// WebSocket (text frames must be UTF-8).
		req.dropBadID()
		return &req, NewError(CodeBadJSON, "frame is not valid UTF-8")
	}
	if req.SDP != "" {
		req.SDPRaw = AppendJSONString(nil, req.SDP)
	}
	if err := req.Validate(); err != nil {
		return &req, err
	}
	return &req, nil
}

func (r *Request) Validate() *Error {
	if bytes.Equal(r.ID, []byte("null")) {
		r.ID = nil
	}
	if len(r.ID) > 0 && !isScalarID(r.ID) {
		r.ID = nil
		return NewError(CodeBadJSON, "id must be a string or a number of at most %d bytes", MaxIDLen)
	}
	if r.CSeq > MaxSeq {
		return NewError(CodeBadJSON, "cseq must be an integer from 1 to %d", uint64(MaxSeq))
	}
	switch r.Type {
	case "":
		return NewError(CodeMissingField, "type is required")
	case TypeJoin:
		if r.Room == "" {
			return NewError(CodeMissingField, "join needs room")
		}
		if !validRoom(r.Room) {
			return NewError(CodeBadRoom, "room must be 1-64 characters of A-Z a-z 0-9 . _ -")
		}
		name, ok := NormalizeName(r.Name)
		if !ok {
			return NewError(CodeBadName, "name must be at most 64 bytes of printable UTF-8 with a visible character, and not \"You\" or \"… (you)\", in any letters")
		}
		r.Name = name
		if r.Client != "" && !validClient(r.Client) {
			return NewError(CodeBadClient, "client must be %d-%d characters of A-Z a-z 0-9 . _ -", minClientLen, maxClientLen)
		}
	case TypeOffer, TypeAnswer:
		if r.To == "" {
			return NewError(CodeMissingField, "%s needs to", r.Type)
		}
		if len(r.SDPRaw) <= len(`""`) {
			return NewError(CodeMissingField, "%s needs sdp", r.Type)
		}
	case TypeCandidate:
		if r.To == "" {
			return NewError(CodeMissingField, "candidate needs to")
		}
		if r.Candidate == nil {
			return NewError(CodeMissingField, "candidate needs candidate (an object, or null for end of candidates)")
		}
		if c := bytes.TrimSpace(r.Candidate); c[0] != '{' && !bytes.Equal(c, []byte("null")) {
			return NewError(CodeBadJSON, "candidate must be an RTCIceCandidateInit object or null")
		}
	case TypeMessage:
		if r.Data == nil {
			return NewError(CodeMissingField, "message needs data")
		}
	case TypeLeave, TypePing, TypeBye, TypeEcho:
	default:
		return NewError(CodeUnknownType, "unknown type %q", Truncate(r.Type, 32))
	}
	return nil
}

// dropBadID forgets an id the protocol does not allow, so an error never
// echoes it.
func (r *Request) dropBadID() {
	if len(r.ID) > 0 && !isScalarID(r.ID) {
		r.ID = nil
	}
}

// isScalarID accepts the ids the protocol allows: short strings and
// numbers. Echoed as re, an id that is not valid UTF-8 would make the
// sender's browser drop its WebSocket (1007), so it is refused too.
func isScalarID(raw json.RawMessage) bool {
	c := raw[0]
	return len(raw) <= MaxIDLen && (c == '"' || c == '-' || (c >= '0' && c <= '9')) && utf8.Valid(raw)
}

// A join's client is long enough to be unguessable (a UUID is 36).
const minClientLen, maxClientLen = 16, 64

func validClient(client string) bool {
	return len(client) >= minClientLen && len(client) <= maxClientLen && validRoom(client)
}

// ClientTag is what peers see of a join's client in room: a hash, so
// that no peer learns the secret (and passes for the tab), and per room,
// so that rooms cannot match their members.
func ClientTag(room, client string) string {
	if client == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("switchboard client\x00" + room + "\x00" + client))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16])
}

func validRoom(room string) bool {
	if len(room) == 0 || len(room) > maxRoomLen {
		return false
	}
	for i := 0; i < len(room); i++ {
		c := room[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Frames the server sends. Field order is the wire order: type first.

// PeerInfo describes a room member.
type PeerInfo struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// ClientTag stands for the join's client (ClientTag), so that a peer
	// coming back as a new session is known for the same tab, while the
	// secret itself stays with the server.
	ClientTag string `json:"clientTag,omitempty"`
}

type Welcome struct {
	Type       string      `json:"type"`
	Session    string      `json:"session"`
	Token      string      `json:"token"`
	ICEServers []ICEServer `json:"iceServers"` // STUN only: TURN credentials come with joined
	TTL        int         `json:"ttl"`        // always 0: no credential to expire (kept for older clients)
	Heartbeat  int         `json:"heartbeat"`
}

// Resumed is the notice that opens a resumed channel: the events
// after After up to Last follow.
type Resumed struct {
	Type    string `json:"type"`
	Session string `json:"session"`
	After   uint64 `json:"after"`
	Last    uint64 `json:"last"`
	// Applied is the last cseq of the client's frames the session handled
	// (0: none had one): the client resends the frames after it.
	Applied uint64 `json:"applied"`
}

type Joined struct {
	Type  string     `json:"type"`
	Room  string     `json:"room"`
	Peers []PeerInfo `json:"peers"`
	Owner string     `json:"owner,omitempty"` // in a cluster: the URL of the node the room is placed on
	// The session's ICE servers in the room: STUN, TURN with credentials
	// issued to it, and with a TURN pool the room's relay host, the same
	// for every peer. TTL: seconds the credentials stay valid.
	ICEServers []ICEServer     `json:"iceServers,omitempty"`
	TTL        int             `json:"ttl,omitempty"`
	Re         json.RawMessage `json:"re,omitempty"`
}

type PeerEvent struct {
	Type string   `json:"type"`
	Peer PeerInfo `json:"peer"`
	// Reason says, in a peer-left, why the peer went: PeerLeftOnPurpose
	// or PeerLeftLost.
	Reason string `json:"reason,omitempty"`
}

// The reasons of a peer-left. A page ends its call with a peer that left
// on purpose at once; one whose session was lost may come back as a new
// session with the same clientTag, so a call whose media flows may wait
// for it.
const (
	PeerLeftOnPurpose = "left" // a leave, a bye, or a WebSocket closed with 1000
	PeerLeftLost      = "lost" // the grace period ran out, its node died, the server ended it
)

type Reply struct {
	Type string          `json:"type"`
	Room string          `json:"room,omitempty"`
	Re   json.RawMessage `json:"re,omitempty"`
}

type ErrorFrame struct {
	Type    string          `json:"type"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Re      json.RawMessage `json:"re,omitempty"`
	// CSeq is the refused frame's cseq (0: none): a client that numbers
	// its frames tells which one an error is about without an id, and
	// sends a frame refused unavailable again under the same number.
	CSeq uint64 `json:"cseq,omitempty"`
}

// Encode marshals a server frame. Every frame type above marshals without
// error (RawMessage fields were validated when decoded), so a failure is a
// programming error.
func Encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("signaling: cannot encode server frame: " + err.Error())
	}
	return b
}
