// Package engine is the seam between a signaling node and whatever it
// shares with other nodes. An Engine keeps rooms (who is in them, and
// moving frames between members), sessions (their records and replay
// logs), and, in a cluster, which node runs which session and where a
// room is placed. Memory is the single-node engine; package
// engine/redis is the cluster's. Both pass package enginetest's
// contract.
package engine

import (
	"context"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// Engine is everything a node keeps beyond its sockets. Its methods are
// safe for concurrent use.
type Engine interface {
	// Join adds peer to room with the mailbox that receives its frames.
	// It queues joined(peers already there) to mb, then announce to every
	// other member, with no other Join, Leave or Send of the room in
	// between: nobody hears of the newcomer, or sends it anything, before
	// its joined frame. It fails with ErrRoomFull, queueing nothing, when
	// the room holds limit peers (limit 0: the engine's own maximum, which
	// also caps a larger limit), or as many as the smallest limit one of
	// its members joined with: a room keeps the cap it was given, whoever
	// joins it later.
	Join(room string, peer wire.PeerInfo, mb Mailbox, limit int, joined func(peers []wire.PeerInfo) []byte, announce []byte) error
	// Leave removes the peer from room and queues announce to the members
	// left, as one step. Unknown peers are ignored.
	Leave(room, peerID string, announce []byte)
	// Send delivers frame to peer "to" in room, or to every member but
	// "from" when to is empty. It fails with ErrUnknownPeer when "to" is not
	// a member other than the sender. cseq is the sender's number for the
	// frame (0: none): a numbered frame is relayed once, however many
	// calls it takes. A Send whose cseq is not above the last the sender
	// handled (its log's Applied, or a Send's own record) relays nothing
	// and succeeds: it repeats a call whose outcome was unknown (a cluster's
	// timeout), or one that ran while it was reported failed. An engine
	// whose sessions move between nodes keeps cseq with the send as the
	// sender's last frame handled, so that the node that takes the sender
	// over never relays the frame again; the node tells the log with
	// Relayed. A Send that fails records nothing.
	Send(room, from, to string, frame []byte, cseq uint64) error
	// Rooms reports how many rooms have members on this node.
	Rooms() int

	// Create records a new session, run by this node, and returns its
	// event log.
	Create(rec SessionRecord) EventLog
	// Find returns the record and log of the live session token belongs
	// to. It fails with ErrNoSession when there is none, and with another
	// error when what the nodes share did not answer: the session may
	// well live on, and must not be taken for gone (a client told
	// resume_failed would start over, its peers told it left).
	Find(token string) (SessionRecord, EventLog, error)
	// Drop forgets a session and its events when it ends.
	Drop(rec SessionRecord)
	// Held reports the bytes of events every log keeps in this node's
	// memory together: what a node's buffer budget counts.
	Held() int64

	// Adopt makes this node run the session rec names, with mb receiving
	// what the engine has for it, and returns the session's room ("" for
	// none). A session created here is adopted once, right after Create;
	// in a cluster, a session another node ran is taken from that node,
	// which is told to Release it. It fails with ErrReplayGap when the
	// session is gone.
	Adopt(rec SessionRecord, mb Mailbox) (room string, err error)
	// Shared reports whether sessions outlive this node: other nodes may
	// adopt them, and a stopping node hands them over instead of ending
	// them.
	Shared() bool
	// HandOver gives the sessions this node ran to the others, after the
	// node let them go (Release): they wait their grace period for a
	// resume elsewhere. An engine that is not Shared has nobody to give
	// them to and does nothing.
	HandOver() error
	// Ready reports whether the engine can take joins and relays: an error
	// while what the nodes share is out of reach.
	Ready() error
	// RoomOwner is the public URL of the node room is placed on, "" when
	// there is no other node to place it on.
	RoomOwner(room string) string
	// Forward hands a client's request for session rec, which another
	// node runs, to that node's Mailbox (Forwarded) and returns its
	// answer: a POST or a poll never moves a session. hold is how long
	// that node may hold the request before it answers (a poll's wait),
	// beyond the time a message between nodes takes; ctx ends the wait
	// sooner (the client went away, the node stops). It fails with
	// ErrNotRunning when no other node runs the session or the one that
	// did does not answer in time, or when rec.Token is not the session's:
	// this node may then look it up (Find) and adopt it.
	Forward(ctx context.Context, rec SessionRecord, request []byte, hold time.Duration) ([]byte, error)
}

// Persister is an engine whose sessions live in this process only (not
// Shared) and can outlive it: a stopping node saves them, and the next
// process on the same state file restores them, so that a restart of a
// single node looks to its clients like a dropped channel. Memory is one;
// a Shared engine hands its sessions over instead.
type Persister interface {
	// Save reports every session, with its log and its room. The node
	// calls it once its channels are closed and its requests have ended.
	Save() []SavedSession
	// Restore takes saved sessions into an engine that has none, making
	// each a member of its room again with the Mailbox mailbox returns
	// for it: all of them, or none (ErrBadSnapshot). A restored session's
	// record knows its token only by hash until Find is given the token.
	Restore(saved []SavedSession, mailbox func(SessionRecord, EventLog) Mailbox) error
}

// Mailbox is a session as an engine sees it.
type Mailbox interface {
	// Deliver appends frame to the session's log and wakes its channel.
	// It must not block; the frame is shared between recipients and must
	// not be modified.
	Deliver(frame []byte)
	// Wake says the engine appended events to the session's log itself.
	Wake()
	// Overflow says the engine found the session's log full: the session
	// ends as a slow consumer.
	Overflow()
	// Release says another node runs the session now (reason
	// wire.CodeReplaced) or may (wire.CodeResume): this node lets it go
	// without leaving its room or dropping its log.
	Release(reason string)
	// Forwarded handles a request another node received for the session
	// (Engine.Forward) and returns the answer for it.
	Forwarded(request []byte) []byte
}
