package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// maxPolls bounds the requests of one poll stream, whatever the run's
// length: at 25 s per idle poll it is far beyond any run, and a busy
// relay peer polls a few thousand times a second at most.
const maxPolls = 10_000_000

// pollStream is the poll loop of one session: each next that finds no
// message left polls again with the last seq received.
type pollStream struct {
	base    *url.URL
	mu      sync.Mutex // guards hc and closed against close from another goroutine
	hc      *httpConn
	closed  bool
	token   string // empty until the welcome (a new session)
	after   uint64
	pending [][]byte
	body    []byte
	polls   int
}

func (p *pollStream) next() ([]byte, uint64, error) {
	for len(p.pending) == 0 {
		if p.polls >= maxPolls {
			return nil, 0, fmt.Errorf("%w: %d polls on one session", errTooMany, p.polls)
		}
		p.polls++
		if err := p.redialIfDone(); err != nil {
			return nil, 0, err
		}
		target := "/v1/poll"
		if p.token != "" {
			target += "?token=" + url.QueryEscape(p.token) + "&after=" + strconv.FormatUint(p.after, 10)
		}
		status, body, err := p.hc.roundTrip(http.MethodGet, target, "", nil, p.body)
		p.body = body
		if err != nil {
			return nil, 0, err
		}
		if status != http.StatusOK {
			return nil, 0, fmt.Errorf("%w: poll answered %d %.200s", errChannelEnded, status, body)
		}
		if p.pending, err = splitArray(body, p.pending[:0]); err != nil {
			return nil, 0, err
		}
	}
	msg := p.pending[0]
	p.pending = p.pending[1:]
	seq := trailingSeq(msg)
	if bytes.HasPrefix(msg, []byte(`{"type":"welcome"`)) {
		// A new session, first or after a failed resume: poll as it.
		var w welcomeFrame
		if err := json.Unmarshal(msg, &w); err != nil || w.Token == "" {
			return nil, 0, fmt.Errorf("%w: welcome without token: %.200s", errBadFrame, msg)
		}
		p.token, p.after = w.Token, 0
	}
	p.after = max(p.after, seq)
	return msg, seq, nil
}

// redialIfDone replaces a connection the server closed after its answer.
func (p *pollStream) redialIfDone() error {
	if !p.hc.done {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	hc, err := dialHTTP(ctx, p.base)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		hc.close()
		return errClosed
	}
	p.hc.close()
	p.hc = hc
	return nil
}

func (p *pollStream) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.hc.close()
}

// welcomeFrame is the part of the welcome the tool needs.
type welcomeFrame struct {
	Type    string `json:"type"`
	Session string `json:"session"`
	Token   string `json:"token"`
}

// httpSession is one session over SSE or long-polling, with its upstream
// connection for POST /v1/send.
type httpSession struct {
	transport string
	base      *url.URL
	stream    eventStream
	streamHC  *httpConn
	up        *httpConn // nil until the first post, and after dropUp
	id, token string
	last      uint64 // newest seq received
	answer    []byte

	// mu guards stream against close from another goroutine while the
	// reader reopens it; the reader alone writes it.
	mu     sync.Mutex
	closed bool
}

// openStream starts a channel: a new session when token is empty, else a
// resume after seq after.
func openStream(ctx context.Context, base *url.URL, transport, token string, after uint64) (eventStream, *httpConn, error) {
	hc, err := dialHTTP(ctx, base)
	if err != nil {
		return nil, nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		hc.setDeadline(d)
	}
	if transport == transportPoll {
		return &pollStream{base: base, hc: hc, token: token, after: after}, hc, nil
	}
	target := "/v1/sse"
	if token != "" {
		target += "?token=" + url.QueryEscape(token) + "&after=" + strconv.FormatUint(after, 10)
	}
	if err := hc.start(http.MethodGet, target, "", nil); err != nil {
		hc.close()
		return nil, nil, err
	}
	resp, err := hc.response(http.MethodGet)
	if err != nil {
		hc.close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := readAll(resp.Body, nil)
		hc.close()
		return nil, nil, fmt.Errorf("%w: GET /v1/sse answered %d %.200s", errServer, resp.StatusCode, body)
	}
	return newSSEStream(hc, resp.Body), hc, nil
}

// newHTTPSession opens a session and, when room is not empty, joins it;
// all of it within timeout. The connections keep no deadline afterwards.
func newHTTPSession(ctx context.Context, base *url.URL, transport, room string, timeout time.Duration) (*httpSession, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream, hc, err := openStream(ctx, base, transport, "", 0)
	if err != nil {
		return nil, err
	}
	s := &httpSession{transport: transport, base: base, stream: stream, streamHC: hc}
	msg, err := s.expect("welcome")
	if err == nil {
		var w welcomeFrame
		if err = json.Unmarshal(msg, &w); err == nil && (w.Session == "" || w.Token == "") {
			err = fmt.Errorf("%w: welcome without session or token", errBadFrame)
		}
		s.id, s.token = w.Session, w.Token
	}
	if err == nil && room != "" {
		d, _ := ctx.Deadline()
		err = s.post(ctx, []byte(`{"type":"join","room":"`+room+`"}`), d)
		if err == nil {
			_, err = s.expect("joined")
		}
	}
	if err != nil {
		s.close()
		s.dropUp()
		return nil, err
	}
	s.streamHC.setDeadline(time.Time{})
	if s.up != nil {
		s.up.setDeadline(time.Time{})
	}
	return s, nil
}

// expect reads messages until one of type want, skipping room notices;
// an error message ends the wait.
func (s *httpSession) expect(want string) ([]byte, error) {
	for range maxSetupFrames {
		msg, _, err := s.next()
		if err != nil {
			return nil, fmt.Errorf("waiting for %s: %w", want, err)
		}
		var f setupFrame
		if err := json.Unmarshal(msg, &f); err != nil {
			return nil, fmt.Errorf("%w: %v", errBadFrame, err)
		}
		switch f.Type {
		case want:
			return msg, nil
		case "error":
			return nil, fmt.Errorf("%w: %s: %s", errServer, f.Code, f.Message)
		}
	}
	return nil, fmt.Errorf("%w: no %s among %d messages", errBadFrame, want, maxSetupFrames)
}

// next returns the next message of the channel and notes its seq.
func (s *httpSession) next() ([]byte, uint64, error) {
	msg, seq, err := s.stream.next()
	s.last = max(s.last, seq)
	return msg, seq, err
}

// post sends body (one message or an array) upstream and checks that
// every message was accepted. A zero deadline means none.
func (s *httpSession) post(ctx context.Context, body []byte, deadline time.Time) error {
	if s.up == nil {
		up, err := dialHTTP(ctx, s.base)
		if err != nil {
			return err
		}
		s.up = up
	}
	s.up.setDeadline(deadline)
	status, answer, err := s.up.roundTrip(http.MethodPost, "/v1/send", s.token, body, s.answer)
	s.answer = answer
	if err != nil {
		return err
	}
	return sendResult(status, answer)
}

// dropUp closes the upstream connection, as a browser does with an idle
// keep-alive connection; the next post dials again.
func (s *httpSession) dropUp() {
	if s.up != nil {
		s.up.close()
		s.up = nil
	}
}

// reopen cuts the channel without a goodbye and opens a new one that
// resumes after the newest seq received.
func (s *httpSession) reopen(ctx context.Context) error {
	s.stream.close()
	stream, hc, err := openStream(ctx, s.base, s.transport, s.token, s.last)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		stream.close()
		return errClosed
	}
	s.stream, s.streamHC = stream, hc
	return nil
}

// bye ends the session on the server, within closeWait.
func (s *httpSession) bye(ctx context.Context) error {
	return s.post(ctx, []byte(`{"type":"bye"}`), time.Now().Add(closeWait))
}

// close drops the channel; the upstream connection is the sender's to
// drop (dropUp), except on a session no goroutine uses yet.
func (s *httpSession) close() {
	s.mu.Lock()
	s.closed = true
	s.stream.close()
	s.mu.Unlock()
}
