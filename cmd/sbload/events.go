package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// eventStream yields a session's messages, one at a time, over SSE or
// long-polling.
type eventStream interface {
	// next returns the next message and its seq, 0 for a channel notice.
	// The message is valid until the following call. io.EOF means the
	// server ended the channel cleanly (an SSE stream at its maximum age).
	next() (msg []byte, seq uint64, err error)
	close()
}

// sseReadBuffer holds several relayed offers; longer lines are assembled.
const sseReadBuffer = 16 << 10

// sseStream reads one text/event-stream response.
type sseStream struct {
	hc   *httpConn
	body io.ReadCloser
	r    *bufio.Reader
	data []byte
}

func newSSEStream(hc *httpConn, body io.ReadCloser) *sseStream {
	return &sseStream{hc: hc, body: body, r: bufio.NewReaderSize(body, sseReadBuffer)}
}

// next implements eventStream: it assembles data lines until the blank
// line that ends an event, skipping comments (heartbeats) and retry.
func (s *sseStream) next() ([]byte, uint64, error) {
	s.data = s.data[:0]
	var seq uint64
	hasData := false
	for {
		line, err := s.line()
		if err != nil {
			if err == io.ErrUnexpectedEOF && len(line) == 0 && !hasData {
				err = io.EOF
			}
			return nil, 0, err
		}
		switch {
		case len(line) == 0:
			if hasData {
				return s.data, seq, nil
			}
		case line[0] == ':':
		case bytes.HasPrefix(line, []byte("data:")):
			if hasData {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, bytes.TrimPrefix(line[5:], []byte(" "))...)
			hasData = true
		case bytes.HasPrefix(line, []byte("id:")):
			n, err := strconv.ParseUint(string(bytes.TrimSpace(line[3:])), 10, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("%w: SSE id %q", errBadFrame, line)
			}
			seq = n
		}
	}
}

// line reads one line without its "\n" (and "\r"); a line longer than
// the buffer is assembled in lineBuf. A stream that ends mid-line gives
// io.ErrUnexpectedEOF, one that ends cleanly between lines io.EOF.
func (s *sseStream) line() ([]byte, error) {
	b, err := s.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		long := append([]byte(nil), b...)
		for err == bufio.ErrBufferFull {
			b, err = s.r.ReadSlice('\n')
			long = append(long, b...)
		}
		b = long
	}
	if err == io.EOF {
		if len(b) == 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: SSE stream ended mid-line", io.ErrUnexpectedEOF)
	}
	if err != nil {
		return nil, err
	}
	b = b[:len(b)-1]
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b, nil
}

func (s *sseStream) close() {
	s.hc.close()
	s.body.Close()
}

// splitArray appends the elements of a JSON array of objects to dst. It
// only tracks strings and nesting; the server's encoding is trusted.
func splitArray(body []byte, dst [][]byte) ([][]byte, error) {
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '[' || body[len(body)-1] != ']' {
		return dst, fmt.Errorf("%w: poll answer is not an array: %.120s", errBadFrame, body)
	}
	depth, start := 0, -1
	inString, escaped := false, false
	for i := 1; i < len(body)-1; i++ {
		c := body[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth == 0 {
				start = i
			}
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				dst = append(dst, body[start:i+1])
			}
			if depth < 0 {
				return dst, fmt.Errorf("%w: unbalanced poll answer", errBadFrame)
			}
		}
	}
	if depth != 0 || inString {
		return dst, fmt.Errorf("%w: unbalanced poll answer", errBadFrame)
	}
	return dst, nil
}

var seqKey = []byte(`,"seq":`)

// trailingSeq reads the seq that the server appends as the last key of
// every event: `…,"seq":N}`. Notices have none: 0.
func trailingSeq(msg []byte) uint64 {
	if len(msg) < len(seqKey)+2 || msg[len(msg)-1] != '}' {
		return 0
	}
	end := len(msg) - 1
	i := end
	for i > 0 && msg[i-1] >= '0' && msg[i-1] <= '9' {
		i--
	}
	if i == end || i < len(seqKey) || !bytes.Equal(msg[i-len(seqKey):i], seqKey) {
		return 0
	}
	n, err := strconv.ParseUint(string(msg[i:end]), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// errChannelEnded is a poll answered 409 (replaced) or 410 (ended).
var errChannelEnded = errors.New("the server ended the channel")
