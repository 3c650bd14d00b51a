package signaling

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// meteredConn paces reads from a hijacked connection to its session's
// byte budget. Every byte counts, whatever frame it belongs to (control
// and empty continuation frames included), and it is counted before the
// WebSocket library parses it: a sender over budget is simply read more
// slowly, and TCP pushes back on it. Nobody else waits.
type meteredConn struct {
	net.Conn
	sess atomic.Pointer[session] // set once the session is known
}

func (c *meteredConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if sess := c.sess.Load(); n > 0 && sess != nil {
		// n is at most the read buffer (16 KiB): the wait is short, and
		// it is the sender's own.
		if d := sess.takeBytes(n); d > 0 {
			time.Sleep(d)
		}
	}
	return n, err
}

// meteredWriter hands the WebSocket upgrader a metered connection when it
// hijacks the request's.
type meteredWriter struct {
	http.ResponseWriter
	conn *meteredConn
	br   *bufio.Reader // the hijacked reader, which gorilla reuses
}

var errNoHijack = errors.New("response writer cannot be hijacked")

func (w *meteredWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errNoHijack
	}
	conn, brw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn, w.br = &meteredConn{Conn: conn}, brw.Reader
	return w.conn, brw, nil
}
