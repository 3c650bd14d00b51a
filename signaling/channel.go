package signaling

import (
	"net/http"
	"sync"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// channel is what a session needs from the connection carrying it: a
// WebSocket, an SSE stream or a poll. A channel pulls events from the
// session's log; the session only tells it when there are new ones.
type channel interface {
	// wake says events were appended. It must not block.
	wake()
	// heartbeat runs once per PingInterval while the channel is attached.
	heartbeat()
	// close ends the channel with a WebSocket close code and a machine code
	// as reason. It must not block the caller on the network.
	close(code int, reason string)
}

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
	if s.orphanedRequest(r) {
		// Its client gave it up before it was read: nobody would get the
		// answer, and attaching it would end the channel that replaced it.
		s.metrics.errors.WithLabelValues(codeOrphaned).Inc()
		return resumeParams{}, false
	}
	if !s.originAllowed(r) {
		s.refuseOrigin(w, r)
		return resumeParams{}, false
	}
	p, err := parseResume(r, lastEventID)
	if err != nil {
		s.httpError(w, r, http.StatusBadRequest, err)
		return p, false
	}
	return p, true
}

// parseResume reads token and after from the query and, on SSE, the
// Last-Event-ID header, which wins over after: EventSource sends it on its
// own reconnects, where the URL's after is stale.
func parseResume(r *http.Request, lastEventID bool) (resumeParams, *wire.Error) {
	q := r.URL.Query()
	p := resumeParams{token: q.Get("token"), fromLast: true}
	raw, from := q.Get("after"), "after"
	if id := r.Header.Get("Last-Event-ID"); lastEventID && id != "" {
		raw, from = id, "Last-Event-ID"
	}
	if raw != "" {
		after, err := wire.ParseSeq(raw)
		if err != nil {
			return p, wire.NewError(wire.CodeBadRequest, "%s must be a sequence number (0-%d)", from, wire.MaxSeq)
		}
		p.after, p.fromLast = after, false
	}
	return p, nil
}

// eventBatches hold the events a channel reads from the log per turn.
var eventBatches = sync.Pool{New: func() any { b := make([]wire.Event, 0, eventBatch); return &b }}

const eventBatch = 64

// readEvents hands each event of log after cursor to each, in batches of
// eventBatch read into a pooled buffer, for as long as more allows before
// each batch (nil: until the log has no more). It returns the seq of the
// last event handed over (cursor when none was), and the log's error: a
// replaced channel's session may have moved on. WebSocket, which flushes
// between batches, reads its own (ws_write.go).
func readEvents(log engine.EventLog, cursor uint64, more func() bool, each func(wire.Event)) (uint64, error) {
	batchp := eventBatches.Get().(*[]wire.Event)
	defer func() { clear(*batchp); eventBatches.Put(batchp) }()
	for more == nil || more() {
		batch, err := log.Read(cursor, (*batchp)[:0], eventBatch)
		if err != nil || len(batch) == 0 {
			return cursor, err
		}
		for _, ev := range batch {
			each(ev)
			cursor = ev.Seq
		}
	}
	return cursor, nil
}

// noticeFrame is a channel notice: a message about the channel rather
// than the session, so it carries no seq (replaced, shutdown).
func noticeFrame(code, message string) []byte {
	return wire.Encode(wire.ErrorFrame{Type: "error", Code: code, Message: message})
}

// closeMessages explain, in channel notices, why the server ended a
// channel.
var closeMessages = map[string]string{
	wire.CodeReplaced:     "another channel took over this session",
	wire.CodeShutdown:     "the server is stopping; reconnect with backoff",
	wire.CodeSlowConsumer: "too many events waited for this client; the session ended",
	wire.CodeResume:       "reconnect at once and resume",
	wire.CodeBye:          "session ended",
	wire.CodeResumeFailed: "the session ended",
	reasonExpired:         "the session ended",
}
