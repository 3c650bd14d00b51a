package signaling

import (
	"encoding/json"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// session is one peer's signaling state. It outlives the channels that
// carry it: while none is attached it is detached, keeps its room and
// collects events, until it is resumed or its grace period ends.
type session struct {
	srv    *Server
	id     string // public: other peers address this one by it
	token  string // secret: proves ownership of the session
	log    engine.EventLog
	frames bucket // Config.RateLimit
	bytes  bucket // Config.ByteRate
	// refusedAt is when the last rate_limited refusal went out (Unix ns):
	// a flood over the limit gets one a second, not one a frame.
	refusedAt atomic.Int64
	// ackDue is when (Unix ns) the heartbeat should ping early because
	// events written are not yet acknowledged; 0 when none are.
	ackDue atomic.Int64
	// polledEvents is when (Unix ns) a poll last carried events, and
	// busyUntil when the session stops counting as busy for polling: see
	// pollBusyFor.
	polledEvents, busyUntil atomic.Int64
	source                  netip.Addr // the client's address as per-address limits count it (sourceOf)
	slot                    int32      // heartbeat slot, see Server.heartbeat; small, to pack with ended
	ended                   atomic.Bool

	// mu serialises requests, which may arrive on several channels at once
	// (concurrent POSTs, a WebSocket being replaced).
	mu   sync.Mutex
	room string
	// resend is the cseq of a relay refused unavailable that the client
	// is to send again, 0 when none, and resendBy when the session stops
	// waiting for it (Unix ns): see admit.
	resend   uint64
	resendBy int64

	// chMu guards the attachment. Order: mu before the engine's room lock
	// before chMu; the log's lock is never held while taking another.
	chMu  sync.Mutex
	ch    channel
	grace *time.Timer // runs while detached
	// graceEnds is when (Unix ns) grace fires, what a snapshot keeps of
	// it; suspended says the node is stopping and keeps the session for
	// the next process (keep.go): no channel attaches any more.
	graceEnds int64
	suspended bool
}

func newSession(srv *Server, source netip.Addr) *session {
	rec := engine.NewSessionRecord()
	return &session{
		srv:    srv,
		id:     rec.ID,
		token:  rec.Token,
		log:    srv.engine.Create(rec),
		source: source,
	}
}

// Deliver implements engine.Mailbox: the frame is numbered into the log,
// then the attached channel, if any, is woken. It runs under the engine's
// room lock, so a full log ends the session from another goroutine.
func (s *session) Deliver(frame []byte) { _ = s.deliver(frame) }

// deliver is Deliver for the session's own replies: besides a full log,
// which ends the session, it reports a log that cannot be reached (a
// cluster's Redis is down), so that the request is answered otherwise.
func (s *session) deliver(frame []byte) error {
	if _, err := s.log.Append(frame); err != nil {
		if errors.Is(err, engine.ErrLogFull) {
			s.Overflow()
		}
		return err
	}
	s.srv.noteBuffered()
	s.Wake()
	return nil
}

// Wake implements engine.Mailbox: it tells the attached channel, if any,
// that events were appended to the log.
func (s *session) Wake() {
	s.chMu.Lock()
	ch := s.ch
	s.chMu.Unlock()
	if ch != nil {
		ch.wake()
	}
}

// Overflow implements engine.Mailbox: it ends the session, whose log is
// full, from another goroutine.
func (s *session) Overflow() {
	if s.ended.Load() {
		return // a late delivery to an ended session's dropped log
	}
	s.srv.metrics.errors.WithLabelValues(wire.CodeSlowConsumer).Inc()
	s.srv.goEnd(s, wire.CodeSlowConsumer)
}

// Release implements engine.Mailbox: it lets the session go without
// ending it, as another node of the cluster runs it now (reason replaced)
// or may (reason resume). Its channel, if any, is closed for reason.
func (s *session) Release(reason string) {
	s.chMu.Lock()
	if s.ended.Load() {
		s.chMu.Unlock()
		return
	}
	s.ended.Store(true)
	ch := s.ch
	s.ch = nil
	if s.grace != nil {
		s.grace.Stop()
	}
	s.chMu.Unlock()
	s.srv.forget(s, reasonMoved)
	if ch != nil {
		code := wire.CloseReplaced
		if reason == wire.CodeResume {
			code = wire.CloseResume
		}
		s.srv.metrics.errors.WithLabelValues(reason).Inc()
		ch.close(code, reason)
	}
}

// attach makes ch the session's channel from position after (the newest
// seq when fromLast), closing the channel it replaces. It returns the
// position ch starts from and the newest seq.
func (s *session) attach(ch channel, after uint64, fromLast bool) (cursor, last uint64, err error) {
	s.chMu.Lock()
	if s.ended.Load() {
		s.chMu.Unlock()
		return 0, 0, engine.ErrReplayGap
	}
	if s.suspended {
		s.chMu.Unlock()
		return 0, 0, errSuspended
	}
	if fromLast {
		after = s.log.Last()
	}
	last, err = s.log.Resume(after)
	if err != nil {
		s.chMu.Unlock()
		return 0, last, err
	}
	old := s.ch
	s.ch = ch
	s.ackDue.Store(0) // the old channel's business
	if s.grace != nil {
		s.grace.Stop()
	}
	s.chMu.Unlock()
	if old != nil {
		s.srv.metrics.errors.WithLabelValues(wire.CodeReplaced).Inc()
		old.close(wire.CloseReplaced, wire.CodeReplaced)
	}
	return after, last, nil
}

// detach ends ch's turn; the grace period starts unless another channel
// has taken over.
func (s *session) detach(ch channel) {
	s.chMu.Lock()
	defer s.chMu.Unlock()
	if s.ch != ch {
		return
	}
	s.ch = nil
	if s.ended.Load() {
		return
	}
	s.startGrace(s.srv.cfg.ResumeGrace)
}

// startGrace (under chMu) gives the session d to be resumed in.
func (s *session) startGrace(d time.Duration) {
	s.graceEnds = time.Now().Add(d).UnixNano()
	if s.grace == nil {
		s.grace = time.AfterFunc(d, s.expire)
	} else {
		s.grace.Reset(d)
	}
}

// expire ends the session if its grace period ran out while detached.
func (s *session) expire() { s.srv.endSession(s, reasonExpired) }

// reasonExpired ends a session whose grace period ran out; unlike every
// other reason it loses to a channel that attached in the meantime.
const reasonExpired = "expired"

// reasonMoved counts sessions another node of the cluster took over.
const reasonMoved = "moved"

// taken and ack move the log's marks for ch, and only while ch is the
// attached channel: a replaced channel's late writes or pongs must not
// drop events its successor still has to send.
func (s *session) taken(ch channel, seq uint64) {
	s.chMu.Lock()
	if s.ch == ch {
		s.log.Taken(seq)
		// The welcome is never replayed: only a client that has it knows
		// the token to resume with. Dropping it at once keeps an idle
		// session's buffer small until its first pong.
		s.log.Ack(1)
	}
	s.chMu.Unlock()
}

func (s *session) ack(ch channel, seq uint64) {
	s.chMu.Lock()
	if s.ch == ch {
		s.log.Ack(seq)
	}
	s.chMu.Unlock()
}

// clientAck drops the events up to seq, which the client says it has
// processed (whatever channel it read them on). Like every Ack it is
// capped at what was handed to a channel.
func (s *session) clientAck(seq uint64) {
	s.chMu.Lock()
	s.log.Ack(seq)
	s.chMu.Unlock()
}

// attached reports the session's channel, nil while detached.
func (s *session) attached() channel {
	s.chMu.Lock()
	defer s.chMu.Unlock()
	return s.ch
}

// end stops the session for good: it leaves its room (peers get
// peer-left) and its channel, if any, is closed with reason. Only the
// first call does anything.
func (s *session) end(code int, reason string) bool {
	s.chMu.Lock()
	if s.ended.Load() || reason == reasonExpired && s.ch != nil {
		s.chMu.Unlock()
		return false
	}
	s.ended.Store(true)
	ch := s.ch
	s.ch = nil
	if s.grace != nil {
		s.grace.Stop()
	}
	s.chMu.Unlock()
	why := wire.PeerLeftLost
	if reason == wire.CodeBye {
		why = wire.PeerLeftOnPurpose
	}
	s.mu.Lock()
	s.leave(why)
	s.mu.Unlock()
	if ch != nil {
		ch.close(code, reason)
	}
	return true
}

func (s *session) welcome() []byte {
	// STUN only: TURN credentials wait for a room (joined).
	return wire.Encode(wire.Welcome{
		Type: "welcome", Session: s.id, Token: s.token, ICEServers: s.srv.welcomeServers(s.id),
		Heartbeat: int(s.srv.cfg.PingInterval.Seconds()),
	})
}

// replyFunc receives a request's refusal: the request's id and cseq (nil
// and 0 when it has none, or the frame went unread) and the error. Over
// WebSocket it becomes an event of the session; over POST /v1/send it
// goes into the answer.
type replyFunc func(id json.RawMessage, cseq uint64, e *wire.Error)

// handle processes one client frame. It reports whether the frame took
// the slow path (anything but a relay that went through), and gone when
// the session had ended or moved to another node: the frame was not
// handled.
func (s *session) handle(frame []byte, reject replyFunc) (slow, gone bool) {
	s.mu.Lock()
	if s.ended.Load() { // a request that raced the session's end or move
		s.mu.Unlock()
		return true, true
	}
	slow, bye := s.handleLocked(frame, reject)
	s.mu.Unlock()
	if bye {
		s.srv.endSession(s, wire.CodeBye)
	}
	return slow, false
}

func (s *session) handleLocked(frame []byte, reject replyFunc) (slow, bye bool) {
	// The limit comes before any parsing: a flood costs a token check.
	if !s.allowFrame() {
		s.overLimit(reject)
		return true, false
	}
	var fast wire.Request
	if wire.DecodeRelayFast(frame, &fast) && fast.Validate() == nil && s.room != "" {
		if !s.admit(&fast, reject) {
			return true, false
		}
		return !s.relay(&fast, reject), false
	}
	req, perr := wire.DecodeRequest(frame)
	// A refused frame counts as handled: sent again, it is skipped (its
	// error went out). An out-of-range cseq is refused below, unrecorded.
	// A relay is recorded once its fate is known (relay): one refused
	// unavailable is not handled, and comes again under its cseq.
	if req.CSeq <= wire.MaxSeq && !s.admit(req, reject) {
		return true, false
	}
	if req.CSeq <= wire.MaxSeq && (perr != nil || !wire.IsRelayed(req.Type)) {
		s.applied(req.CSeq)
	}
	if perr != nil {
		s.refuse(reject, req, perr)
		return true, false
	}
	switch req.Type {
	case wire.TypeJoin:
		s.join(req, reject)
	case wire.TypeLeave:
		if s.room == "" {
			s.refuse(reject, req, wire.NewError(wire.CodeNotInRoom, "not in a room"))
			break
		}
		if s.srv.engine.Ready() != nil { // leaving now would only half happen
			s.refuse(reject, req, errUnavailable("leave"))
			break
		}
		room := s.room
		s.leave(wire.PeerLeftOnPurpose)
		s.reply(wire.Encode(wire.Reply{Type: "left", Room: room, Re: req.ID}), req, reject)
	case wire.TypePing:
		s.reply(wire.Encode(wire.Reply{Type: "pong", Re: req.ID}), req, reject)
	case wire.TypeEcho:
		s.echo(req, reject)
	case wire.TypeBye:
		return true, true
	default:
		s.relay(req, reject)
	}
	return true, false
}

// admit reports whether the client's frame numbered req.CSeq (0: none) is
// to be handled now. A frame not above the last one handled, sent again
// after a resume or in a POST whose answer was lost, is skipped without an
// answer: it was handled once. While a relay refused unavailable waits
// to be sent again (Config.ResendWait), a newer numbered frame is refused
// unavailable too and left unhandled: handled first, it would make the
// server skip the older one when it comes (cseq order). A bye goes
// through: the session ends anyway.
func (s *session) admit(req *wire.Request, reject replyFunc) bool {
	cseq := req.CSeq
	if cseq == 0 {
		return true
	}
	if cseq <= s.log.Applied() {
		s.srv.metrics.duplicates.Inc()
		return false
	}
	if s.resend != 0 && cseq > s.resend && req.Type != wire.TypeBye {
		if time.Now().UnixNano() < s.resendBy {
			s.refuse(reject, req, wire.NewError(wire.CodeUnavailable,
				"frame %d was refused unavailable and has not come again: send it again first, then this one", s.resend))
			return false
		}
		s.resend = 0 // the client gave up on it
	}
	return true
}

// applied records the client's frame numbered cseq (0: none) as handled.
func (s *session) applied(cseq uint64) {
	if cseq != 0 {
		s.log.Apply(cseq)
	}
}

// allowFrame takes a frame token: requests, pings and unsolicited pongs
// all count.
func (s *session) allowFrame() bool {
	return s.frames.allow(1, s.srv.cfg.RateLimit, float64(s.srv.cfg.RateBurst))
}

// allowBytes takes n bytes of the budget if they are there (POST).
func (s *session) allowBytes(n int) bool {
	return s.bytes.allow(float64(n), float64(s.srv.cfg.ByteRate), float64(s.srv.cfg.ByteBurst))
}

// takeBytes spends n bytes of the budget and says how long to wait before
// reading more (WebSocket).
func (s *session) takeBytes(n int) time.Duration {
	return s.bytes.take(float64(n), float64(s.srv.cfg.ByteRate), float64(s.srv.cfg.ByteBurst))
}

// overLimit refuses a frame over the rate limit, unread.
func (s *session) overLimit(reject replyFunc) {
	s.refuse(reject, nil, s.srv.overLimit)
}

// refuse answers req (nil: a frame that went unread) with e, echoing its
// id and cseq.
func (s *session) refuse(reject replyFunc, req *wire.Request, e *wire.Error) {
	s.srv.metrics.errors.WithLabelValues(e.Code).Inc()
	var id json.RawMessage
	var cseq uint64
	if req != nil {
		id = req.ID
		if req.CSeq <= wire.MaxSeq {
			cseq = req.CSeq
		}
	}
	reject(id, cseq, e)
}

// rejectAsEvent is the replyFunc of channels that carry requests and
// events together: the error becomes the session's next event.
func (s *session) rejectAsEvent(id json.RawMessage, cseq uint64, e *wire.Error) {
	if e == s.srv.overLimit {
		// A flood over the frame limit hears of it once a second, not
		// once a frame: answering each would amplify it.
		now := time.Now().UnixNano()
		last := s.refusedAt.Load()
		if now-last < int64(time.Second) || !s.refusedAt.CompareAndSwap(last, now) {
			return
		}
	}
	frame := wire.Encode(wire.ErrorFrame{Type: "error", Code: e.Code, Message: e.Message, Re: id, CSeq: cseq})
	if err := s.deliver(frame); err != nil && !errors.Is(err, engine.ErrLogFull) {
		// The log is out of reach: the refusal goes on the channel as a
		// notice, without a seq, rather than nowhere.
		if n, ok := s.attached().(noticer); ok {
			n.notice(frame)
		}
	}
}

// noticer is a channel that can send a frame outside the session's log.
type noticer interface{ notice(frame []byte) }

// reply delivers the answer to req, or refuses req when it cannot.
func (s *session) reply(frame []byte, req *wire.Request, reject replyFunc) {
	if err := s.deliver(frame); err != nil && !errors.Is(err, engine.ErrLogFull) {
		s.refuse(reject, req, errUnavailable(req.Type))
	}
}

// errUnavailable refuses a request the cluster's shared state could not
// take.
func errUnavailable(what string) *wire.Error {
	return wire.NewError(wire.CodeUnavailable, "the cluster's Redis did not answer: the %s did not happen; send it again", what)
}
