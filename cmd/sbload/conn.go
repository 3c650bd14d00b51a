package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// epoch is the tool's clock origin; timestamps in frames are nanoseconds
// since it, read from the monotonic clock.
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

// closeWait bounds the closing handshake of all connections together.
const closeWait = 2 * time.Second

// setupFrame is the part of the server frames the setup reads: welcome,
// joined, and error.
type setupFrame struct {
	Type    string `json:"type"`
	Session string `json:"session"`
	Token   string `json:"token"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// maxSetupFrames bounds how many unrelated frames (peer-joined) setup
// skips while waiting for the one it wants.
const maxSetupFrames = 16

var writeBuffers sync.Pool

func newDialer(readBuffer int, timeout time.Duration) *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: timeout,
		ReadBufferSize:   readBuffer,
		WriteBufferSize:  512, // joins and closes only
		WriteBufferPool:  &writeBuffers,
	}
}

// connect dials url, waits for the welcome and, when room is not empty,
// joins it; it returns the connection and the welcome. All of it must
// finish within timeout.
func connect(ctx context.Context, d *websocket.Dialer, url, room string, timeout time.Duration) (*websocket.Conn, setupFrame, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ws, _, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return nil, setupFrame{}, fmt.Errorf("dial: %w", err)
	}
	deadline, _ := ctx.Deadline()
	_ = ws.SetReadDeadline(deadline)
	welcome, err := expect(ws, "welcome")
	if err == nil && welcome.Session == "" {
		err = fmt.Errorf("%w: welcome without session", errBadFrame)
	}
	if err == nil && room != "" {
		_ = ws.SetWriteDeadline(deadline)
		err = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"join","room":"`+room+`"}`))
		if err == nil {
			_, err = expect(ws, "joined")
		}
	}
	if err != nil {
		ws.Close()
		return nil, setupFrame{}, err
	}
	// gorilla applies its write deadline to the socket only when it writes,
	// so the socket keeps the join's deadline: clear both on the socket
	// itself, since the relay scenario writes there directly.
	_ = ws.SetWriteDeadline(time.Time{})
	_ = ws.NetConn().SetDeadline(time.Time{})
	return ws, welcome, nil
}

// expect reads frames until one of type want arrives, skipping room
// notices; an error frame ends the wait.
func expect(ws *websocket.Conn, want string) (setupFrame, error) {
	for range maxSetupFrames {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return setupFrame{}, fmt.Errorf("waiting for %s: %w", want, err)
		}
		var f setupFrame
		if err := json.Unmarshal(b, &f); err != nil {
			return f, fmt.Errorf("%w: %v", errBadFrame, err)
		}
		switch f.Type {
		case want:
			return f, nil
		case "error":
			return f, fmt.Errorf("%w: %s: %s", errServer, f.Code, f.Message)
		}
	}
	return setupFrame{}, fmt.Errorf("%w: no %s among %d frames", errBadFrame, want, maxSetupFrames)
}

// serverError extracts the code of an error frame with a cheap scan; it
// returns "" for any other frame.
func serverError(frame []byte) string {
	var f setupFrame
	for _, t := range peerjsTrouble {
		if bytes.HasPrefix(frame, t) {
			return "peerjs-" + string(t[9:len(t)-1])
		}
	}
	if len(frame) < 16 || string(frame[:16]) != `{"type":"error",` {
		return ""
	}
	if json.Unmarshal(frame, &f) != nil || f.Code == "" {
		return "unparsable"
	}
	return f.Code
}

// peerjsTrouble are the PeerJS server's messages that say an offer went
// nowhere or a client was refused.
var peerjsTrouble = [][]byte{[]byte(`{"type":"ERROR"`), []byte(`{"type":"EXPIRE"`), []byte(`{"type":"LEAVE"`), []byte(`{"type":"ID-TAKEN"`)}

// readFrame reads one message into buf, growing it when needed.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// forEach calls fn(i) for every i in [0, n) from at most k goroutines,
// and stops handing out work once ctx ends.
func forEach(ctx context.Context, n, k int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, k) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// sleepCtx waits for d or until ctx ends, and reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
