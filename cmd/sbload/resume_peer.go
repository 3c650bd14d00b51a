package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// resumePeer is a session the resume scenario can cut and resume, over
// any transport. Its methods are called from one goroutine.
type resumePeer interface {
	id() string
	// next returns the next message and its seq (0 for a notice).
	next() ([]byte, uint64, error)
	expect(want string) ([]byte, error)
	// sendSync sends the messages and returns once the server has
	// handled them all.
	sendSync(msgs [][]byte) error
	// cut drops the channel without a goodbye: the session is detached.
	cut()
	// resume opens a new channel after the newest seq received.
	resume(ctx context.Context) error
	setDeadline(t time.Time)
	// end says bye (the session ends) and closes the connections.
	end()
}

func newResumePeer(ctx context.Context, cfg *config, room string) (resumePeer, error) {
	if cfg.Transport == transportWS {
		ws, welcome, err := connect(ctx, newDialer(relayReadBuffer, cfg.DialTimeout), cfg.URL, room, cfg.DialTimeout)
		if err != nil {
			return nil, err
		}
		return &wsResumePeer{cfg: cfg, ws: ws, sid: welcome.Session, token: welcome.Token}, nil
	}
	s, err := newHTTPSession(ctx, baseURL(cfg), cfg.Transport, room, cfg.DialTimeout)
	if err != nil {
		return nil, err
	}
	return &httpResumePeer{s}, nil
}

// httpResumePeer adapts httpSession.
type httpResumePeer struct{ *httpSession }

func (p *httpResumePeer) id() string { return p.httpSession.id }

func (p *httpResumePeer) sendSync(msgs [][]byte) error {
	for len(msgs) > 0 {
		n := 0
		body := []byte{'['}
		for n < len(msgs) && n < maxPostMessages && len(body)+len(msgs[n])+1 < maxPostBody {
			body = append(append(body, msgs[n]...), ',')
			n++
		}
		if n == 0 {
			return fmt.Errorf("%w: a message over %d bytes", errConfig, maxPostBody)
		}
		body[len(body)-1] = ']'
		if err := p.post(context.Background(), body, time.Now().Add(closeWait)); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

func (p *httpResumePeer) cut() { p.stream.close() }

func (p *httpResumePeer) resume(ctx context.Context) error {
	stream, hc, err := openStream(ctx, p.base, p.transport, p.token, p.last)
	if err != nil {
		return err
	}
	p.stream, p.streamHC = stream, hc
	return nil
}

func (p *httpResumePeer) setDeadline(t time.Time) { p.streamHC.setDeadline(t) }

func (p *httpResumePeer) end() {
	_ = p.bye(context.Background())
	p.close()
	p.dropUp()
}

// wsResumePeer is a gorilla WebSocket session.
type wsResumePeer struct {
	cfg   *config
	ws    *websocket.Conn
	sid   string
	token string
	last  uint64
}

func (p *wsResumePeer) id() string { return p.sid }

func (p *wsResumePeer) next() ([]byte, uint64, error) {
	_, msg, err := p.ws.ReadMessage()
	if err != nil {
		return nil, 0, err
	}
	seq := trailingSeq(msg)
	p.last = max(p.last, seq)
	return msg, seq, nil
}

func (p *wsResumePeer) expect(want string) ([]byte, error) {
	for range maxSetupFrames {
		msg, _, err := p.next()
		if err != nil {
			return nil, fmt.Errorf("waiting for %s: %w", want, err)
		}
		if bytes.HasPrefix(msg, []byte(`{"type":"`+want+`"`)) {
			return msg, nil
		}
		if code := serverError(msg); code != "" {
			return nil, fmt.Errorf("%w: %.200s", errServer, msg)
		}
	}
	return nil, fmt.Errorf("%w: no %s among %d frames", errBadFrame, want, maxSetupFrames)
}

// sendSync writes the frames, then a ping: the session handles a
// connection's frames in order, so its pong means the frames were
// handled.
func (p *wsResumePeer) sendSync(msgs [][]byte) error {
	_ = p.ws.SetWriteDeadline(time.Now().Add(closeWait))
	for _, m := range msgs {
		if err := p.ws.WriteMessage(websocket.TextMessage, m); err != nil {
			return err
		}
	}
	if err := p.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","id":"sync"}`)); err != nil {
		return err
	}
	_ = p.ws.SetReadDeadline(time.Now().Add(closeWait))
	_, err := p.expect("pong")
	return err
}

func (p *wsResumePeer) cut() { p.ws.NetConn().Close() }

func (p *wsResumePeer) resume(ctx context.Context) error {
	u, _ := url.Parse(p.cfg.URL)
	u.RawQuery = "token=" + url.QueryEscape(p.token) + "&after=" + strconv.FormatUint(p.last, 10)
	ws, resp, err := newDialer(relayReadBuffer, p.cfg.DialTimeout).DialContext(ctx, u.String(), nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("resume: %w (%d)", err, resp.StatusCode)
		}
		return fmt.Errorf("resume: %w", err)
	}
	p.ws = ws
	return nil
}

func (p *wsResumePeer) setDeadline(t time.Time) { _ = p.ws.SetReadDeadline(t) }

func (p *wsResumePeer) end() {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = p.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait))
	_ = p.ws.SetReadDeadline(time.Now().Add(closeWait))
	for range maxSetupFrames { // until the server's close frame
		if _, _, err := p.ws.ReadMessage(); err != nil {
			break
		}
	}
	p.ws.Close()
}
