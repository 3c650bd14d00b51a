package main

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Client kinds the relay and burst scenarios run over WebSocket.
//
// The sbload client is built to cost the server's machine as little as
// possible: it writes pre-masked batches of offers in one syscall and
// reads with a large buffer, looking only at a prefix and the timestamp.
// Real clients read differently: a browser page gets one message event
// per frame and JSON.parses it, and a library often parses it again for
// the application. Such a reader drains its socket more slowly, so the
// server's writers find fewer frames waiting per wake-up and batch less.
// The gorilla client reads like that, so that the server is also measured
// against readers of that speed.
const (
	clientSbload  = "sbload"
	clientGorilla = "gorilla"
)

// gorillaSender writes one offer per WebSocket message through gorilla's
// WriteMessage, each with a fresh mask, as a browser's ws.send does.
type gorillaSender struct {
	mu      sync.Mutex // one writer at a time: the sender, the reader's close
	ws      *websocket.Conn
	payload []byte // the offer's JSON, unmasked; the timestamp is patched in place
	stampAt int
}

// newGorillaSender writes offers to peer "to" in cfg's protocol on ws.
func newGorillaSender(ws *websocket.Conn, cfg *config, to string) *gorillaSender {
	payload, stampAt := protocolOffer(cfg, to)
	return &gorillaSender{ws: ws, payload: payload, stampAt: stampAt}
}

// send writes k offers stamped ts, one message each.
func (g *gorillaSender) send(k int, ts int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := uint64(ts)
	for i := stampDigits - 1; i >= 0; i-- {
		g.payload[g.stampAt+i] = byte('0' + v%10)
		v /= 10
	}
	for range k {
		if err := g.ws.WriteMessage(websocket.TextMessage, g.payload); err != nil {
			return err
		}
	}
	return nil
}

// control writes a control frame under the same lock as the offers. A
// pong has no deadline, as with the sbload client: gorilla makes a failed
// write fatal to the connection, and on a loaded machine a pong queued
// behind a burst can take seconds, which a browser would wait out. The
// close frame is bounded by closeWait.
func (g *gorillaSender) control(op int, data []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var deadline time.Time
	if op == websocket.CloseMessage {
		deadline = time.Now().Add(closeWait)
	}
	return g.ws.WriteControl(op, data, deadline)
}

// newGorillaDialer is gorilla's dialer with its default buffer sizes
// (4 KiB each way), as an application would leave it, and no receive
// timestamping: nothing of sbload's own reader.
func newGorillaDialer(timeout time.Duration) *websocket.Dialer {
	return &websocket.Dialer{HandshakeTimeout: timeout}
}

// readParsed receives until the connection ends, reading each message
// whole with ReadMessage and decoding its JSON twice into generic values,
// as a page's JSON.parse and then its signaling library would.
func (p *relayPeer) readParsed(ph phases, errs *errorLog) {
	defer close(p.done)
	for {
		_, msg, err := p.ws.ReadMessage()
		if err != nil {
			p.readEnded(err, errs)
			return
		}
		t := now()
		for range 2 {
			var v any
			if err := json.Unmarshal(msg, &v); err != nil {
				errs.add("bad-frame", fmt.Errorf("%w: %v: %.120s", errBadFrame, err, msg))
				break
			}
		}
		p.received(msg, t, t, ph, errs)
	}
}
