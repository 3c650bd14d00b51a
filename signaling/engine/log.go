package engine

import (
	"crypto/rand"
	"strings"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// EventLog is one session's replay buffer. Every event is appended here
// before any channel sends it; a channel reads from the position its
// client asked for. The log keeps what the client may still need:
//
//   - events after the taken mark have not reached a channel yet and are
//     never dropped; when they alone pass the bounds, Append fails;
//   - events up to the taken mark were handed to a channel but may be lost
//     in flight, so they are kept for a resume and dropped, oldest first,
//     only to make room;
//   - events up to an Ack are known to be with the client and are dropped.
//
// Its methods are safe for concurrent use.
type EventLog interface {
	// Append numbers frame with the next seq (the first is 1) and keeps
	// it. It fails with ErrLogFull, keeping nothing, when the events no
	// channel has taken would pass the log's bounds.
	Append(frame []byte) (seq uint64, err error)
	// Resume starts a channel at after: the events up to it are
	// acknowledged and the ones after it are untaken again. It returns
	// the newest seq, or ErrReplayGap when events after `after` are no
	// longer kept or `after` is beyond the newest seq.
	Resume(after uint64) (last uint64, err error)
	// Read appends to dst up to max events with seq above after. It fails
	// with ErrReplayGap when the event after `after` is no longer kept.
	Read(after uint64, dst []wire.Event, max int) ([]wire.Event, error)
	// Taken marks the events up to seq as handed to a channel.
	Taken(seq uint64)
	// Ack drops the events up to seq, capped at the taken mark: the
	// client has them.
	Ack(seq uint64)
	// Last reports the newest seq, 0 before the first event.
	Last() uint64
	// Held reports the bytes of events this node keeps in its memory for
	// the log: what a node's buffer budget counts. A log kept elsewhere
	// holds none.
	Held() int

	// Apply records that the client's frame numbered cseq (its upstream
	// sequence number) is being handled, and reports false, recording
	// nothing, when cseq is not above the last one recorded: that frame
	// was handled before and must not be again.
	Apply(cseq uint64) bool
	// Relayed records, as Apply does, that the client's frame numbered
	// cseq was handled, for a frame Engine.Send relayed: the engine kept
	// the number with the send, so the log need not keep it again.
	Relayed(cseq uint64)
	// Applied reports the last cseq recorded, 0 before any: what a
	// resumed channel tells its client, who resends the frames after it.
	Applied() uint64
}

// SessionRecord is what identifies a session beyond any one channel or
// node: its public id and its secret token. The token is the id, a dot
// and a secret (NewSessionRecord), so that an engine finds a session by
// its token without an index of tokens: the cluster's keeps none.
type SessionRecord struct {
	ID    string
	Token string
}

// NewSessionRecord makes a record with a random id (26 characters of
// base32, 130 bits) and a token of the id, a dot and as random a secret.
func NewSessionRecord() SessionRecord {
	id := rand.Text()
	return SessionRecord{ID: id, Token: id + "." + rand.Text()}
}

// TokenID is the session id a token names, "" for a token not made by
// NewSessionRecord. Only the engine's record says whether the token is
// the session's.
func TokenID(token string) string {
	id, _, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	return id
}

// ReplayLimits bound each session's replay log.
type ReplayLimits struct {
	Events int // most events kept; defaults to 1024
	Bytes  int // most frame bytes kept; defaults to 1 MiB
}

// SetDefaults fills zero bounds with the defaults.
func (l *ReplayLimits) SetDefaults() {
	if l.Events == 0 {
		l.Events = 1024
	}
	if l.Bytes == 0 {
		l.Bytes = 1 << 20
	}
}
