package signaling

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// sseRetry is the reconnect delay EventSource is told to use: a stream the
// server ends at its maximum age should come back at once.
const sseRetry = "retry: 1000\n\n"

func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	p, ok := s.channelRequest(w, r, true)
	if !ok {
		return
	}
	if r.ProtoMajor == 1 && r.Method == http.MethodGet && canHijack(w) {
		s.serveRawSSE(w, r, p)
		return
	}
	s.serveStreamSSE(w, r, p)
}

// serveStreamSSE serves an SSE stream through net/http: HTTP/2 streams,
// which share their connection, and HEAD requests.
func (s *Server) serveStreamSSE(w http.ResponseWriter, r *http.Request, p resumeParams) {
	rc := http.NewResponseController(w)
	c, sess, cursor, notices := s.openHTTPChannel(w, r, p, "sse")
	if c == nil {
		return
	}
	defer c.done()

	setSSEHeaders(w.Header())
	w.WriteHeader(http.StatusOK)

	bw := bufio.NewWriterSize(w, 512)
	_, _ = bw.WriteString(sseRetry)
	for _, n := range notices {
		writeSSE(bw, 0, n)
	}
	maxAge := time.NewTimer(s.cfg.SSEMaxAge)
	defer maxAge.Stop()
	buf := make([]byte, 0, 512)
	for {
		beat, reason := c.due()
		cursor, _ = readEvents(sess.log, cursor, nil, func(ev wire.Event) {
			buf = wire.AppendEvent(buf[:0], ev)
			writeSSE(bw, ev.Seq, buf)
		})
		if reason != "" {
			writeSSE(bw, 0, noticeFrame(reason, closeMessages[reason]))
			s.flushSSE(rc, bw)
			return
		}
		if beat {
			_, _ = bw.WriteString(": hb\n\n")
		}
		// Taken before the flush: once the client can read an event it
		// may acknowledge it (on a POST), and an Ack stops at the taken
		// mark.
		sess.taken(c, cursor)
		if !s.flushSSE(rc, bw) {
			return
		}
		select {
		case <-c.signal:
		case <-maxAge.C:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func setSSEHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
}

// writeSSE writes one event; seq 0 marks a channel notice, which has no id
// so that EventSource's Last-Event-ID stays on the last event.
func writeSSE(bw *bufio.Writer, seq uint64, data []byte) {
	if seq > 0 {
		var idBuf [24]byte
		_, _ = bw.WriteString("id: ")
		_, _ = bw.Write(strconv.AppendUint(idBuf[:0], seq, 10))
		_ = bw.WriteByte('\n')
	}
	// A relayed candidate or data value is spliced in as the sender wrote
	// it, and JSON allows line breaks between tokens: each line goes on a
	// data line of its own, and EventSource joins them with "\n", which is
	// JSON whitespace too.
	for {
		_, _ = bw.WriteString("data: ")
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			_, _ = bw.Write(data)
			break
		}
		_, _ = bw.Write(data[:i])
		_ = bw.WriteByte('\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	_, _ = bw.WriteString("\n\n")
}

// flushSSE pushes what is buffered to the client within WriteTimeout.
func (s *Server) flushSSE(rc *http.ResponseController, bw *bufio.Writer) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	return bw.Flush() == nil && rc.Flush() == nil
}
