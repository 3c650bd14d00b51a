package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

const (
	writeWait = 10 * time.Second // one write to the server
	byeWait   = time.Second      // the close frame of a bye
	// maxEventBytes bounds one frame read: a relayed frame is at most
	// the server's 64 KiB plus what the server adds.
	maxEventBytes = 1 << 20
)

// wsConn is a dialed WebSocket. Writes come from one goroutine at a time
// (the client's outbox); close may come from any.
type wsConn struct{ *websocket.Conn }

func (w wsConn) close(bye bool) {
	if bye {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, wire.CodeBye)
		_ = w.WriteControl(websocket.CloseMessage, msg, time.Now().Add(byeWait))
	}
	_ = w.Close() // without a close frame: the session only detaches
}

func (ch *channel) runWS() {
	o := &ch.c.opts
	d := websocket.Dialer{
		TLSClientConfig: o.TLS, HandshakeTimeout: o.ConnectTimeout, Proxy: http.ProxyFromEnvironment,
		ReadBufferSize: 4096, WriteBufferSize: 4096,
	}
	conn, resp, err := d.DialContext(ch.ctx, endpoint(ch.base, "/v1/ws", ch.room, ch.cur, true), ch.c.header())
	if err != nil {
		e := chanEnd{reason: err.Error()}
		if resp != nil {
			e.code = resp.StatusCode
			e.reason = httpRefusal(resp, fmt.Sprintf("upgrade refused: HTTP %d", resp.StatusCode))
		}
		ch.end(e)
		return
	}
	ch.mu.Lock()
	ch.ws = wsConn{conn}
	closed := ch.ctx.Err() != nil
	ch.mu.Unlock()
	if closed { // close came during the dial
		_ = conn.Close()
		return
	}
	conn.SetReadLimit(maxEventBytes)
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			ch.end(wsEnd(err))
			return
		}
		if kind == websocket.TextMessage && !ch.frame(data) {
			return
		}
	}
}

// wsEnd reads how a WebSocket ended.
func wsEnd(err error) chanEnd {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return chanEnd{code: ce.Code, reason: ce.Text, replaced: ce.Code == wire.CloseReplaced, resumeNow: ce.Code == wire.CloseResume}
	}
	return chanEnd{reason: err.Error()}
}

// writeWS sends texts in order on the channel's WebSocket.
func (ch *channel) writeWS(texts [][]byte) error {
	ch.mu.Lock()
	ws := ch.ws
	ch.mu.Unlock()
	if ws.Conn == nil {
		return errChannel
	}
	for _, t := range texts {
		_ = ws.SetWriteDeadline(time.Now().Add(writeWait))
		if err := ws.WriteMessage(websocket.TextMessage, t); err != nil {
			return err
		}
	}
	return nil
}
