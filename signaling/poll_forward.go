package signaling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// In a cluster a poll never moves its session while the node that runs
// it lives: like a POST (send.go), it is forwarded there, held there as
// if it had arrived there, and its answer passed back. A busy polling
// client behind plain round robin would otherwise move its session to
// each poll's node, crossing its own POSTs on the way.

// forwardedPoll is a poll as the session's node serves it.
type forwardedPoll struct {
	After    uint64 `json:"after"`
	FromLast bool   `json:"fromLast,omitempty"`
}

// forwardPoll forwards a poll for a session another node runs and answers
// it; it reports false, answering nothing, when this node must serve it
// itself (it runs the session, or no other node does).
func (s *Server) forwardPoll(w http.ResponseWriter, r *http.Request, p resumeParams) bool {
	if !s.engine.Shared() || p.token == "" || r.Context().Value(forwardedKey{}) != nil {
		return false
	}
	id := engine.TokenID(p.token)
	if id == "" || s.running(id) != nil {
		return false
	}
	// Forward checks the token itself: no lookup of the session first.
	rec := engine.SessionRecord{ID: id, Token: p.token}
	req := postRequest{Poll: &forwardedPoll{After: p.after, FromLast: p.fromLast}}
	// The wait ends with the client's request or with the server: a
	// stopping node must not wait out the session's node's poll.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	fwd, err := s.engine.Forward(ctx, rec, wire.Encode(req), s.cfg.PollWait)
	var ans postAnswer
	switch {
	case ctx.Err() != nil:
		s.httpError(w, r, http.StatusServiceUnavailable, wire.NewError(wire.CodeShutdown, "%s", closeMessages[wire.CodeShutdown]))
		return true
	case err != nil || json.Unmarshal(fwd, &ans) != nil:
		if err != nil && !errors.Is(err, engine.ErrNotRunning) {
			s.cfg.Logger.Warn("a forwarded poll got no answer", "err", err)
		}
		return false
	}
	s.writePostAnswer(w, r, ans)
	return true
}

// forwardedKey marks the context of a poll another node forwarded: it is
// served here, never forwarded again.
type forwardedKey struct{}

// heldPoll serves a poll another node forwarded for sess, as servePoll
// serves one that arrived here, and returns its answer.
func (s *Server) heldPoll(sess *session, fp forwardedPoll) postAnswer {
	q := url.Values{"token": {sess.token}}
	if !fp.FromLast {
		q.Set("after", strconv.FormatUint(fp.After, 10))
	}
	ctx := context.WithValue(context.Background(), forwardedKey{}, true)
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, "/v1/poll?"+q.Encode(), nil)
	if err != nil {
		return postAnswer{Status: http.StatusInternalServerError, Refusal: wire.NewError(wire.CodeBadRequest, "forwarded poll: %v", err)}
	}
	r.ProtoMajor, r.ProtoMinor = 2, 0 // never parked: the answer goes back through the engine
	r.RemoteAddr = netip.AddrPortFrom(sess.source, 0).String()
	rec := &answerRecorder{header: http.Header{}, status: http.StatusOK}
	s.servePoll(rec, r)
	if rec.status != http.StatusOK {
		var e wire.ErrorFrame
		if json.Unmarshal(rec.body.Bytes(), &e) != nil || e.Code == "" {
			e = wire.ErrorFrame{Code: wire.CodeUnavailable, Message: "the forwarded poll failed"}
		}
		return postAnswer{Status: rec.status, Refusal: wire.NewError(e.Code, "%s", e.Message)}
	}
	return postAnswer{Results: rec.body.Bytes()}
}

// answerRecorder keeps the answer of a request served for another node.
type answerRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *answerRecorder) Header() http.Header         { return a.header }
func (a *answerRecorder) Write(b []byte) (int, error) { return a.body.Write(b) }
func (a *answerRecorder) WriteHeader(status int)      { a.status = status }
