package signaling

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// serveSend is the upstream of SSE and long-polling: POST /v1/send with a
// body of one message or an array of them. Each goes through the same
// session code, limits included, as a WebSocket frame; the answer lists
// each message's refusal, or null.
func (s *Server) serveSend(w http.ResponseWriter, r *http.Request) {
	sess := s.authorize(w, r)
	if sess == nil {
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
	// An event stream has no pong: the client acknowledges what it has
	// processed on its posts instead, so that the replay buffer of a busy
	// SSE session does not hold everything since the stream began.
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if seq, err := wire.ParseSeq(id); err == nil {
			sess.clientAck(seq)
		}
	}
	// The session's byte budget, as over WebSocket; checked before the
	// body is parsed.
	if !sess.allowBytes(len(body)) {
		s.httpError(w, r, http.StatusTooManyRequests, wire.NewError(wire.CodeRateLimited, "more than %d bytes/s (burst %d); request dropped unread",
			s.cfg.ByteRate, s.cfg.ByteBurst))
		return
	}
	msgs, perr := wire.SplitBatch(body)
	if perr != nil {
		status := http.StatusBadRequest
		if perr.Code == wire.CodeTooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		s.httpError(w, r, status, perr)
		return
	}
	results := make([]any, len(msgs))
	for i, m := range msgs {
		sess.handle(m, func(id json.RawMessage, e *wire.Error) {
			results[i] = wire.ErrorFrame{Type: "error", Code: e.Code, Message: e.Message, Re: id}
		})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(wire.Encode(results))
}
