package signaling

import (
	"net/http"
	"strconv"
	"sync"
)

// resumeParams is what a channel request says about the session it wants:
// token names it (empty: a new session) and after is the last seq the
// client processed. Without an after the channel starts at the newest
// event (fromLast).
type resumeParams struct {
	token    string
	after    uint64
	fromLast bool
}

// channelRequest checks a request that opens a channel (origin, resume
// parameters), answering refusals itself.
func (s *Server) channelRequest(w http.ResponseWriter, r *http.Request, lastEventID bool) (resumeParams, bool) {
	if !s.originAllowed(r) {
		s.refuseOrigin(w, r)
		return resumeParams{}, false
	}
	p, err := parseResume(r, lastEventID)
	if err != nil {
		s.httpError(w, http.StatusBadRequest, err)
		return p, false
	}
	return p, true
}

// parseResume reads token and after from the query and, on SSE, the
// Last-Event-ID header, which wins over after: EventSource sends it on its
// own reconnects, where the URL's after is stale.
func parseResume(r *http.Request, lastEventID bool) (resumeParams, *Error) {
	q := r.URL.Query()
	p := resumeParams{token: q.Get("token"), fromLast: true}
	raw, from := q.Get("after"), "after"
	if id := r.Header.Get("Last-Event-ID"); lastEventID && id != "" {
		raw, from = id, "Last-Event-ID"
	}
	if raw != "" {
		after, err := parseSeq(raw)
		if err != nil {
			return p, newError(CodeBadRequest, "%s must be a sequence number (0-%d)", from, maxSeq)
		}
		p.after, p.fromLast = after, false
	}
	return p, nil
}

// maxSeq bounds sequence numbers to what JavaScript numbers hold exactly.
const maxSeq = 1<<53 - 1

// parseSeq reads a sequence number: decimal digits only, no sign, no
// spaces, at most maxSeq.
func parseSeq(s string) (uint64, error) {
	if s == "" {
		return 0, errBadSeq
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadSeq
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > maxSeq {
		return 0, errBadSeq
	}
	return n, nil
}

// appendEvent writes ev as its JSON object with "seq" added as the last
// key. Every server frame is an encoded object, so it ends with '}'.
func appendEvent(dst []byte, ev Event) []byte {
	dst = append(dst, ev.Frame[:len(ev.Frame)-1]...)
	return appendSeqSuffix(dst, ev.Seq)
}

func appendSeqSuffix(dst []byte, seq uint64) []byte {
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	return append(dst, '}')
}

// eventBatches hold the events a channel reads from the log per turn.
var eventBatches = sync.Pool{New: func() any { b := make([]Event, 0, eventBatch); return &b }}

const eventBatch = 64

// noticeFrame is a channel notice: a message about the channel rather
// than the session, so it carries no seq (replaced, shutdown).
func noticeFrame(code, message string) []byte {
	return encode(errorFrame{Type: "error", Code: code, Message: message})
}

// closeMessages explain, in channel notices, why the server ended a
// channel.
var closeMessages = map[string]string{
	CodeReplaced:     "another channel took over this session",
	CodeShutdown:     "the server is stopping; reconnect with backoff",
	CodeSlowConsumer: "too many events waited for this client; the session ended",
	CodeResume:       "reconnect at once and resume",
	CodeBye:          "session ended",
	CodeResumeFailed: "the session ended",
	reasonExpired:    "the session ended",
}
