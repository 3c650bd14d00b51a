package client

import (
	"encoding/json"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// Event is one of the types below; take it apart with a type switch.
type Event interface{ event() }

// ICEServer is one entry of RTCConfiguration.iceServers.
type ICEServer = wire.ICEServer

// Peer is a room member.
type Peer = wire.PeerInfo

// State of the client's channel.
type State string

// States a StateChanged reports.
const (
	Connecting   State = "connecting"   // a channel is being opened
	Open         State = "open"         // a channel carries the session
	Reconnecting State = "reconnecting" // waiting Delay before the next try
	Closed       State = "closed"       // the client has ended
)

// StateChanged: the channel's state changed.
type StateChanged struct {
	State     State
	Transport Transport
	Attempt   int           // Connecting, Reconnecting: tries since the last stable channel
	Delay     time.Duration // Reconnecting: the wait before the next try
	Resumed   bool          // Open: the session was resumed, not new
}

// Welcome: a new session began (the first, or one after ResumeFailed).
type Welcome struct {
	Session    string
	ICEServers []ICEServer
	TTL        time.Duration // how long TURN credentials in ICEServers stay valid
	Heartbeat  time.Duration
}

// Resumed: a channel took up the session again; the events missed
// (After+1…Last) follow, nothing was lost and the room is kept.
type Resumed struct {
	Session   string
	Transport Transport
	After     uint64
	Last      uint64
	// Applied is the last of this client's frames the server had
	// handled: the ones after it are sent again.
	Applied uint64
}

// ResumeFailed: the old session is gone (its peers saw peer-left); a
// Welcome and, when a room was joined, a new Joined follow.
type ResumeFailed struct{ Message string }

// Joined: the session is in Room; Peers were there before it. Rejoin is
// set when a new session joined again by itself.
type Joined struct {
	Room       string
	Peers      []Peer
	Owner      string      // in a cluster: the node the room is placed on
	ICEServers []ICEServer // the room's relay, when the server names one
	TTL        time.Duration
	Rejoin     bool
}

// Left: the session left Room.
type Left struct{ Room string }

// PeerJoined: a peer joined the room.
type PeerJoined struct{ Peer Peer }

// PeerLeft: a peer left the room, or its session ended. Reason is
// wire.PeerLeftOnPurpose (it left or said bye) or wire.PeerLeftLost (its
// session was lost: it may come back as a new session with the same
// ClientTag); empty from a server older than the field.
type PeerLeft struct {
	Peer   Peer
	Reason string
}

// Offer from a peer.
type Offer struct{ From, SDP string }

// Answer from a peer.
type Answer struct{ From, SDP string }

// CandidateInit is an RTCIceCandidateInit; its JSON is that of
// webrtc.ICECandidateInit.
type CandidateInit struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Candidate from a peer; nil Candidate is the end of its candidates.
type Candidate struct {
	From      string
	Candidate *CandidateInit
}

// Message from a peer: Data is the JSON value it sent.
type Message struct {
	From string
	Data json.RawMessage
}

// ICEServersChanged: fresh ICE servers, from a renewal or from a joined
// frame that names the room's relay (then Room is set). New peer
// connections should use them, existing ones through SetConfiguration.
type ICEServersChanged struct {
	ICEServers []ICEServer
	TTL        time.Duration
	Room       string
}

// Moving: the session moves to the room's owner node From → To.
type Moving struct{ From, To string }

// ErrorEvent: an error frame no request claimed (rate_limited, an error
// of a frame sent with Send), or a failure of the client's own (Code
// seq_gap, too_large…).
type ErrorEvent struct{ Code, Message string }

// ChannelClosed: a channel ended. WillReconnect says whether the client
// goes on.
type ChannelClosed struct {
	Transport     Transport
	Code          int
	Reason        string
	WillReconnect bool
}

func (StateChanged) event()      {}
func (Welcome) event()           {}
func (Resumed) event()           {}
func (ResumeFailed) event()      {}
func (Joined) event()            {}
func (Left) event()              {}
func (PeerJoined) event()        {}
func (PeerLeft) event()          {}
func (Offer) event()             {}
func (Answer) event()            {}
func (Candidate) event()         {}
func (Message) event()           {}
func (ICEServersChanged) event() {}
func (Moving) event()            {}
func (ErrorEvent) event()        {}
func (ChannelClosed) event()     {}

// frame is a server frame as read: every field any frame may have.
type frame struct {
	Type       string          `json:"type"`
	Seq        *uint64         `json:"seq"` // nil: a channel notice, not an event
	Re         json.RawMessage `json:"re"`
	Session    string          `json:"session"`
	Token      string          `json:"token"`
	ICEServers []ICEServer     `json:"iceServers"`
	TTL        int             `json:"ttl"`
	Heartbeat  int             `json:"heartbeat"`
	After      uint64          `json:"after"`
	Last       uint64          `json:"last"`
	Applied    uint64          `json:"applied"`
	Room       string          `json:"room"`
	Peers      []Peer          `json:"peers"`
	Owner      string          `json:"owner"`
	Peer       Peer            `json:"peer"`
	From       string          `json:"from"`
	SDP        string          `json:"sdp"`
	Candidate  *CandidateInit  `json:"candidate"`
	Data       json.RawMessage `json:"data"`
	Code       string          `json:"code"`
	Message    string          `json:"message"`
	CSeq       uint64          `json:"cseq"`   // an error's: the refused frame's
	Reason     string          `json:"reason"` // a peer-left's
}

// parseFrame reads one server frame; nil when it is no JSON object with
// a type (a frame we cannot read is skipped, as browsers do).
func parseFrame(raw []byte) *frame {
	var f frame
	if json.Unmarshal(raw, &f) != nil || f.Type == "" {
		return nil
	}
	return &f
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }
