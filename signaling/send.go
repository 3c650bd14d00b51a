package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"time"
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
	// A body that does not arrive in time would hold the request, and a
	// file descriptor, for as long as the client likes.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxMessageSize))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.httpError(w, http.StatusRequestEntityTooLarge, newError(CodeTooLarge, "body over %d bytes", s.cfg.MaxMessageSize))
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		s.httpError(w, http.StatusRequestTimeout, newError(CodeTimeout, "the body did not arrive within %v", s.cfg.BodyTimeout))
		return
	case err != nil:
		return // the client went away
	}
	// An event stream has no pong: the client acknowledges what it has
	// processed on its posts instead, so that the replay buffer of a busy
	// SSE session does not hold everything since the stream began.
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if seq, err := parseSeq(id); err == nil {
			sess.clientAck(seq)
		}
	}
	// The session's byte budget, as over WebSocket; checked before the
	// body is parsed.
	if !sess.allowBytes(len(body)) {
		s.httpError(w, http.StatusTooManyRequests, newError(CodeRateLimited, "more than %d bytes/s (burst %d); request dropped unread",
			s.cfg.ByteRate, s.cfg.ByteBurst))
		return
	}
	msgs, perr := splitSendBody(body)
	if perr != nil {
		status := http.StatusBadRequest
		if perr.Code == CodeTooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		s.httpError(w, status, perr)
		return
	}
	results := make([]any, len(msgs))
	for i, m := range msgs {
		sess.handle(m, func(id json.RawMessage, e *Error) {
			results[i] = errorFrame{Type: "error", Code: e.Code, Message: e.Message, Re: id}
		})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(encode(results))
}

// maxSendBatch bounds the messages of one POST; each is also counted
// against the session's rate limit.
const maxSendBatch = 256

// splitSendBody returns the messages of a POST body: the body itself when
// it is an object, or the elements of an array. It checks only the
// outline; each message is then decoded and validated like a WebSocket
// frame, so that its error is reported in its own slot.
func splitSendBody(body []byte) ([][]byte, *Error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return [][]byte{trimmed}, nil
	}
	bad := newError(CodeBadJSON, "body must be one JSON message object or an array of them")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, bad
	}
	msgs, ok := splitArrayFast(trimmed)
	if !ok {
		// The scanner refuses what it cannot vouch for (nesting deeper
		// than maxScanDepth among others): encoding/json decides.
		var raw []json.RawMessage
		if json.Unmarshal(trimmed, &raw) != nil {
			return nil, bad
		}
		msgs = make([][]byte, len(raw))
		for i, m := range raw {
			msgs[i] = m
		}
	}
	if len(msgs) > maxSendBatch {
		return nil, newError(CodeTooLarge, "at most %d messages per request", maxSendBatch)
	}
	return msgs, nil
}

// splitArrayFast splits a JSON array into its elements in one pass of the
// validating scanner; encoding/json.Unmarshal into []json.RawMessage
// validates the whole body and then scans it again, and was 35-45 % of
// the server's CPU when relaying over SSE or polling.
func splitArrayFast(b []byte) ([][]byte, bool) {
	s := jsonScanner{b: b, i: 1, depth: 1}
	var msgs [][]byte
	s.skipSpace()
	if s.i < len(b) && b[s.i] == ']' {
		return msgs, s.i+1 == len(b)
	}
	for {
		s.skipSpace()
		start := s.i
		if !s.value() {
			return nil, false
		}
		msgs = append(msgs, b[start:s.i])
		s.skipSpace()
		if s.i >= len(b) {
			return nil, false
		}
		switch b[s.i] {
		case ',':
			s.i++
		case ']':
			return msgs, s.i+1 == len(b)
		default:
			return nil, false
		}
	}
}
