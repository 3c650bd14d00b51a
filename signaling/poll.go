package signaling

import (
	"bytes"
	"net/http"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// pollMaxBytes caps one poll answer; the rest waits for the next poll.
const pollMaxBytes = 256 << 10

func (s *Server) servePoll(w http.ResponseWriter, r *http.Request) {
	p, ok := s.channelRequest(w, r, false)
	if !ok || s.forwardPoll(w, r, p) {
		return
	}
	c, sess, cursor, notices := s.openHTTPChannel(w, r, p, "poll")
	if c == nil {
		return
	}
	start, parked := cursor, false
	defer func() {
		if !parked {
			c.done()
		}
	}()

	body := []byte{'['}
	for _, n := range notices {
		body = append(append(body, n...), ',')
	}
	read := func() { body, cursor = appendPollEvents(body, sess.log, cursor) }
	read()
	if len(body) == 1 {
		waitEnd := time.Now().Add(s.cfg.PollWait)
		wait := time.NewTimer(s.cfg.PollWait)
		defer wait.Stop()
		var park <-chan time.Time
		if r.ProtoMajor == 1 && s.cfg.PollWait > pollParkAfter && canHijack(w) {
			after := pollParkAfter
			if time.Now().UnixNano() < sess.busyUntil.Load() {
				after = pollParkBusy
			}
			t := time.NewTimer(after)
			defer t.Stop()
			park = t.C
		}
	hold:
		for len(body) == 1 && c.closedFor() == "" {
			select {
			case <-c.signal:
				read()
			case <-wait.C:
				break hold
			case <-park:
				if parked = s.park(w, c, cursor, time.Until(waitEnd)); parked {
					return
				}
			case <-r.Context().Done():
				return
			}
		}
	}
	if reason := c.closedFor(); reason != "" && len(body) == 1 {
		status := http.StatusConflict
		if reason != wire.CodeReplaced {
			status = http.StatusGone
		}
		s.httpError(w, r, status, wire.NewError(reason, "%s", closeMessages[reason]))
		return
	}
	body = append(bytes.TrimSuffix(body, []byte{','}), ']')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if cursor > max(start, 1) { // events besides the welcome
		sess.markBusy() // before the answer, which the next poll follows
	}
	_, err := w.Write(body)
	if err == nil {
		sess.taken(c, cursor)
	}
}

// markBusy records that a poll carried events: see pollBusyFor.
func (s *session) markBusy() {
	now := time.Now().UnixNano()
	if now-s.polledEvents.Swap(now) < int64(pollBusyFor) {
		s.busyUntil.Store(now + int64(pollBusyFor))
	}
}

// appendPollEvents appends the events of log after cursor to a poll's
// body, each followed by a comma, up to about pollMaxBytes, and returns
// the body and the seq of the last event appended.
func appendPollEvents(body []byte, log engine.EventLog, cursor uint64) ([]byte, uint64) {
	cursor, _ = readEvents(log, cursor, func() bool { return len(body) < pollMaxBytes },
		func(ev wire.Event) { body = append(wire.AppendEvent(body, ev), ',') })
	return body, cursor
}
