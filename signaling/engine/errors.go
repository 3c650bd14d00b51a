package engine

import "errors"

// The refusals an Engine reports; every engine returns these, so that the
// node can tell them apart from an outage.
var (
	// ErrRoomFull: Join into a room at its limit.
	ErrRoomFull = errors.New("room is full")
	// ErrUnknownPeer: Send to a peer that is not another member.
	ErrUnknownPeer = errors.New("no such peer in room")
	// ErrLogFull: Append past the events no channel has taken yet.
	ErrLogFull = errors.New("replay buffer full")
	// ErrReplayGap: events asked for are no longer kept, or the session
	// is gone.
	ErrReplayGap = errors.New("requested events are no longer kept")
	// ErrNoSession: Find of a token that is no live session's.
	ErrNoSession = errors.New("no such session")
	// ErrNotRunning: Forward for a session no other node runs, or whose
	// node did not answer in time.
	ErrNotRunning = errors.New("no other node runs the session")
)

// ErrBadSnapshot: Persister.Restore of sessions that cannot be restored.
var ErrBadSnapshot = errors.New("snapshot cannot be restored")
