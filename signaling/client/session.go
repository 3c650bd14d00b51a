package client

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// onFrame handles one frame of the channel in use (or an error frame a
// POST answered), on the loop.
func (c *Client) onFrame(f *frame) {
	if f.Seq != nil {
		// Events of a session: handle each once, in order. A welcome is
		// a new session unless it is this session's own replayed one.
		seq := *f.Seq
		if f.Type == "welcome" && (c.sess == nil || f.Session != c.sess.id) {
			c.lastSeq = 0
		}
		if seq <= c.lastSeq {
			return
		}
		if c.lastSeq > 0 && seq != c.lastSeq+1 {
			c.emit(ErrorEvent{Code: "seq_gap", Message: fmt.Sprintf("event %d after %d: events were lost", seq, c.lastSeq)})
		}
		c.lastSeq = seq
	}
	if f.Type == "error" && c.retryRefused(f, slices.Concat(c.out.sent, c.out.writing), true) {
		c.replayCheck() // the outbox sends the frame again: nobody else hears of it
		return
	}
	if len(f.Re) > 0 {
		if done, ok := c.pending[string(f.Re)]; ok {
			delete(c.pending, string(f.Re))
			if f.Type == "error" {
				done(nil, &Error{Code: f.Code, Message: f.Message})
				if f.Code != wire.CodeResumeFailed {
					return // the request's caller has it
				}
			} else {
				done(f, nil)
			}
		}
	}
	switch f.Type {
	case "welcome":
		c.welcome(f)
	case "resumed":
		if c.sess == nil || f.Session != c.sess.id {
			break
		}
		if c.ready { // an event stream came back by itself, or an upgrade took over
			c.resendUnhandled(f.Applied)
			c.emit(Resumed{Session: f.Session, Transport: c.ch.kind, After: f.After, Last: f.Last, Applied: f.Applied})
		} else {
			c.resumed(f)
		}
	case "pong":
		if len(f.Re) == 0 { // the heartbeat's: frames up to its ping were handled
			c.pongT.stop()
			c.handledUpTo(c.out.pinged)
		}
	case "joined":
		c.joined(f)
	case "left":
		c.room = ""
		c.emit(Left{Room: f.Room})
	case "error":
		if f.Code != wire.CodeResumeFailed {
			c.emit(ErrorEvent{Code: f.Code, Message: f.Message})
			break
		}
		c.endSession(ErrSessionEnded)
		c.emit(ResumeFailed{Message: f.Message})
	case "peer-joined":
		c.emit(PeerJoined{Peer: f.Peer})
	case "peer-left":
		c.emit(PeerLeft{Peer: f.Peer, Reason: f.Reason})
	case "offer":
		c.emit(Offer{From: f.From, SDP: f.SDP})
	case "answer":
		c.emit(Answer{From: f.From, SDP: f.SDP})
	case "candidate":
		c.emit(Candidate{From: f.From, Candidate: f.Candidate})
	case "message":
		c.emit(Message{From: f.From, Data: f.Data})
	}
	c.replayCheck()
}

// replayCheck ends the replay after a resume once its last event is in.
func (c *Client) replayCheck() {
	if c.replayUntil > 0 && c.lastSeq >= c.replayUntil {
		c.replayed()
	}
}

func (c *Client) welcome(f *frame) {
	if c.sess == nil || c.sess.id != f.Session {
		c.endSession(ErrSessionEnded)
	}
	c.sess = &session{id: f.Session, token: f.Token, heartbeat: seconds(f.Heartbeat)}
	if f.Seq != nil {
		c.lastSeq = *f.Seq
	}
	c.ice.servers = f.ICEServers
	c.refillOutbox()
	c.emit(Welcome{Session: f.Session, ICEServers: f.ICEServers, TTL: seconds(f.TTL), Heartbeat: seconds(f.Heartbeat)})
	c.established(false)
	c.renewICE(f.ICEServers, seconds(f.TTL))
	select {
	case <-c.first:
	default:
		c.publish() // Dial returns now: Session() must have it
		close(c.first)
	}
	if c.target != nil {
		c.sendJoin()
	}
}

// resumed: a channel took up the session. The replayed events (if any)
// follow on WebSocket and SSE; a poll has already handed them over.
func (c *Client) resumed(notice *frame) {
	after, last, applied := c.lastSeq, c.lastSeq, uint64(0)
	if notice != nil {
		after, last, applied = notice.After, notice.Last, notice.Applied
	}
	c.emit(Resumed{Session: c.sess.id, Transport: c.ch.kind, After: after, Last: last, Applied: applied})
	c.resendUnhandled(applied)
	c.established(true)
	c.replayUntil = max(last, c.lastSeq+1)
	if last <= c.lastSeq {
		c.replayed()
	}
}

// replayed: everything missed has been handled. A join that never got
// through (lost with a dying channel) goes again.
func (c *Client) replayed() {
	c.replayUntil = 0
	if c.target != nil && c.room == "" && !c.joinSent {
		c.sendJoin()
	}
}

func (c *Client) joined(f *frame) {
	c.joinSent = false
	c.room = f.Room
	if len(f.ICEServers) > 0 {
		// The room's relay (or TURN credentials issued for the room)
		// replace the session's, for the peer connections to come and,
		// through the event, for those already there.
		c.ice.servers = f.ICEServers
		c.renewICE(f.ICEServers, seconds(f.TTL))
		c.emit(ICEServersChanged{ICEServers: f.ICEServers, TTL: seconds(f.TTL), Room: f.Room})
	}
	j := Joined{Room: f.Room, Peers: f.Peers, Owner: f.Owner, ICEServers: f.ICEServers, TTL: seconds(f.TTL), Rejoin: len(c.joinWaiters) == 0}
	c.emit(j)
	if c.target == nil || c.target.room == f.Room {
		// What Join's caller reads next (Room, ICEServers) is this
		// room's by the time Join returns.
		c.publish()
		// Waiters for another room (a Join that replaced one still on
		// its way) get already_in_room from their own join instead.
		for _, w := range c.joinWaiters {
			w <- joinResult{joined: &j}
		}
		c.joinWaiters = nil
	}
	c.follow(f.Owner)
}

// endSession drops everything of the session but the room to be in.
func (c *Client) endSession(err error) {
	c.sess = nil
	c.room = ""
	c.lastSeq, c.replayUntil = 0, 0
	c.joinSent = false
	c.clearOutbox()
	c.ice.stop()
	for id, done := range c.pending {
		delete(c.pending, id)
		done(nil, err)
	}
}

// request queues frame with a fresh id; done runs on the loop with the
// reply or the error.
func (c *Client) request(frame outFrame, done func(*frame, error)) {
	c.nextID++
	frame.ID = c.nextID
	id := fmt.Sprint(c.nextID)
	text, err := json.Marshal(frame)
	if err == nil {
		err = c.enqueue(text)
	}
	if err != nil {
		done(nil, err)
		return
	}
	c.pending[id] = done
}

// forget drops a request whose caller stopped waiting.
func (c *Client) forget(id int) { delete(c.pending, fmt.Sprint(id)) }

func (c *Client) sendJoin() {
	t := c.target
	f := outFrame{Type: wire.TypeJoin, Room: t.room, Name: t.opts.Name, Token: t.opts.Token}
	if t.opts.TokenFunc != nil {
		tok, err := t.opts.TokenFunc(t.room)
		if err != nil {
			c.joinFailed(fmt.Errorf("join token for %s: %w", t.room, err))
			return
		}
		f.Token = tok
	}
	sess := c.sess
	c.joinSent = true
	timer := &loopTimer{}
	c.request(f, func(_ *frame, err error) {
		timer.stop()
		if c.sess != sess || c.target != t {
			return // a new session joins again; a Leave or a new Join took over
		}
		c.joinSent = false
		switch {
		case err == nil:
		case err == ErrNoSession || err == ErrSessionEnded || err == ErrClosed:
		default:
			c.joinFailed(err)
		}
	})
	c.arm(timer, c.opts.RequestTimeout, func() {
		if c.sess != sess || !c.joinSent {
			return
		}
		// No reply: the channel is likely dead. A resume replays the
		// joined frame if the join got through, else the outbox sends
		// the join again (its cseq says whether the server had it).
		c.failChannel("join timeout")
	})
}

func (c *Client) joinFailed(err error) {
	c.target = nil
	c.joinSent = false
	if len(c.joinWaiters) == 0 { // a rejoin of a new session: nobody waits
		c.emit(ErrorEvent{Code: codeOf(err), Message: err.Error()})
	}
	c.rejectJoinWaiters(err)
}

func (c *Client) rejectJoinWaiters(err error) {
	for _, w := range c.joinWaiters {
		w <- joinResult{err: err}
	}
	c.joinWaiters = nil
}
