package signaling

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// serveSend is the upstream of SSE and long-polling: POST /v1/send with a
// body of one message or an array of them. Each goes through the same
// session code, limits included, as a WebSocket frame; the answer lists
// each message's refusal, or null.
//
// In a cluster a POST never moves its session: when another node runs it
// (its event stream or poll is there), the body is forwarded to that node
// and its answer passed back, so that a load balancer may send each
// request of a client anywhere. Only a session no node runs any more is
// adopted here.
func (s *Server) serveSend(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		s.refuseOrigin(w, r)
		return
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	unauthorized := func() {
		s.httpError(w, r, http.StatusUnauthorized, wire.NewError(wire.CodeUnauthorized, "send the welcome token as Authorization: Bearer <token>"))
	}
	// The session's own node needs no lookup in the engine; another node
	// forwards the body with the token, which the engine checks.
	rec := engine.SessionRecord{ID: engine.TokenID(token), Token: token}
	sess := s.runningWith(token)
	if sess == nil && s.running(rec.ID) != nil {
		// Run here, its token unknown or not this one: the engine decides.
		if found, _, err := s.engine.Find(token); err == nil {
			sess = s.running(found.ID)
		}
		if sess == nil {
			unauthorized()
			return
		}
	}
	if rec.ID == "" || (sess == nil && !s.engine.Shared()) {
		unauthorized()
		return
	}
	// The body's deadline (BodyDeadline) runs from the request's start.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxMessageSize))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.httpError(w, r, http.StatusRequestEntityTooLarge, wire.NewError(wire.CodeTooLarge, "body over %d bytes", s.cfg.MaxMessageSize))
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.httpError(w, r, http.StatusRequestTimeout, wire.NewError(wire.CodeTimeout, "the body did not arrive within %v", s.cfg.BodyTimeout))
		return
	case err != nil:
		return // the client went away
	}
	req := postRequest{LastEventID: r.Header.Get("Last-Event-ID"), Body: body}
	var ans postAnswer
	if sess == nil {
		fwd, err := s.engine.Forward(r.Context(), rec, wire.Encode(req), 0)
		if err == nil && json.Unmarshal(fwd, &ans) == nil {
			s.writePostAnswer(w, r, ans)
			return
		}
		if !errors.Is(err, engine.ErrNotRunning) {
			s.cfg.Logger.Warn("a forwarded post got no answer", "err", err)
		}
		found, log, err := s.engine.Find(token)
		if err != nil && !errors.Is(err, engine.ErrNoSession) {
			// Not known to be gone: the client sends it again later.
			s.httpError(w, r, http.StatusServiceUnavailable, errUnavailable("lookup of your session"))
			return
		}
		if err != nil {
			unauthorized()
			return
		}
		if sess = s.adopt(found, log, s.clientSource(r)); sess == nil {
			unauthorized()
			return
		}
	}
	s.writePostAnswer(w, r, sess.post(req))
}

// postRequest is a POST /v1/send as its session's node handles it,
// wherever it arrived.
type postRequest struct {
	LastEventID string `json:"lastEventId,omitempty"`
	Body        []byte `json:"body"`
	// Poll, when set, makes it a poll (poll_forward.go), not a POST.
	Poll *forwardedPoll `json:"poll,omitempty"`
}

// postAnswer is the answer to a postRequest: a refusal of the whole
// request with its HTTP status, or the results of its messages.
type postAnswer struct {
	Status  int             `json:"status,omitempty"`
	Refusal *wire.Error     `json:"refusal,omitempty"`
	Results json.RawMessage `json:"results,omitempty"`
}

func (s *Server) writePostAnswer(w http.ResponseWriter, r *http.Request, ans postAnswer) {
	if ans.Refusal != nil {
		s.httpError(w, r, ans.Status, ans.Refusal)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(ans.Results)
}

// Forwarded implements engine.Mailbox: a POST another node received for
// this session.
func (s *session) Forwarded(request []byte) []byte {
	var req postRequest
	if err := json.Unmarshal(request, &req); err != nil {
		return wire.Encode(postAnswer{Status: http.StatusBadRequest, Refusal: wire.NewError(wire.CodeBadRequest, "forwarded request unreadable")})
	}
	if req.Poll != nil {
		// Held like a poll that arrived here: Shutdown waits for it (it
		// ends when the session is let go).
		srv := s.srv
		srv.mu.Lock()
		if srv.closing {
			srv.mu.Unlock()
			return wire.Encode(postAnswer{Status: http.StatusServiceUnavailable, Refusal: wire.NewError(wire.CodeShutdown, "%s", closeMessages[wire.CodeShutdown])})
		}
		srv.wg.Add(1)
		srv.mu.Unlock()
		defer srv.wg.Done()
		return wire.Encode(srv.heldPoll(s, *req.Poll))
	}
	return wire.Encode(s.post(req))
}

// post handles the body of a POST /v1/send.
func (s *session) post(req postRequest) postAnswer {
	cfg := &s.srv.cfg
	// An event stream has no pong: the client acknowledges what it has
	// processed on its posts instead, so that the replay buffer of a busy
	// SSE session does not hold everything since the stream began.
	if req.LastEventID != "" {
		if seq, err := wire.ParseSeq(req.LastEventID); err == nil {
			s.clientAck(seq)
		}
	}
	// The session's byte budget, as over WebSocket; checked before the
	// body is parsed.
	if !s.allowBytes(len(req.Body)) {
		return postAnswer{Status: http.StatusTooManyRequests, Refusal: wire.NewError(wire.CodeRateLimited,
			"more than %d bytes/s (burst %d); request dropped unread", cfg.ByteRate, cfg.ByteBurst)}
	}
	msgs, perr := wire.SplitBatch(req.Body)
	if perr != nil {
		status := http.StatusBadRequest
		if perr.Code == wire.CodeTooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		return postAnswer{Status: status, Refusal: perr}
	}
	results := make([]any, len(msgs))
	for i, m := range msgs {
		_, gone := s.handle(m, func(id json.RawMessage, cseq uint64, e *wire.Error) {
			results[i] = wire.ErrorFrame{Type: "error", Code: e.Code, Message: e.Message, Re: id, CSeq: cseq}
		})
		if gone {
			// Not "null": the rest was not handled. The client resumes and
			// sends the request again; its cseqs skip what was.
			return postAnswer{Status: http.StatusServiceUnavailable, Refusal: wire.NewError(wire.CodeSessionMoved,
				"the session ended or moved to another node while this request was handled; resume, then send it again")}
		}
	}
	return postAnswer{Results: wire.Encode(results)}
}
