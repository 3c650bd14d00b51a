package signaling

// Server-side WebSocket frames and the buffer a writer gathers them in.

import (
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// WebSocket framing (RFC 6455, section 5.2), server side: no mask.
const (
	finalBit       = 0x80
	maxFrameHeader = 10
)

func appendFrameHeader(dst []byte, op byte, n int) []byte {
	switch {
	case n <= 125:
		return append(dst, finalBit|op, byte(n))
	case n <= 0xffff:
		return append(dst, finalBit|op, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, finalBit|op, 127)
		for s := 56; s >= 0; s -= 8 {
			dst = append(dst, byte(uint64(n)>>s))
		}
		return dst
	}
}

// frameWriter gathers one write: small parts (headers, seq suffixes,
// control frames, short frames) are copied into scratch, large frames are
// referenced where they are. A writer holds one only while it runs.
type frameWriter struct {
	scratch []byte
	parts   []part
	mark    int // where the open part of scratch starts
	iov     net.Buffers
	flat    []byte // the write for sockets without writev (TLS)
	batch   []wire.Event
	kick    chan struct{}
	timer   *time.Timer
}

// part is a piece of the write: ext, or scratch[from:to] when ext is nil.
type part struct {
	ext      []byte
	from, to int
}

// maxKeptFlat bounds the coalescing buffer a pooled frameWriter keeps.
const maxKeptFlat = 256 << 10

// copyBelow is the size under which a frame is copied into scratch rather
// than given an iovec of its own.
const copyBelow = 256

var frameWriters = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &frameWriter{
		scratch: make([]byte, 0, 4096),
		batch:   make([]wire.Event, 0, eventBatch),
		kick:    make(chan struct{}, 1),
		timer:   t,
	}
}}

// wait lingers up to d for a kick and reports whether one came.
func (w *frameWriter) wait(d time.Duration) bool {
	w.timer.Reset(d)
	select {
	case <-w.kick:
		w.timer.Stop()
		return true
	case <-w.timer.C:
		return false
	}
}

func (w *frameWriter) reset() {
	w.scratch, w.mark = w.scratch[:0], 0
	clear(w.parts)
	w.parts = w.parts[:0]
}

// release drops every reference to frames and returns w to the pool.
func (w *frameWriter) release() {
	w.reset()
	clear(w.batch)
	w.batch = w.batch[:0]
	clear(w.iov[:cap(w.iov)])
	w.iov = w.iov[:0]
	if cap(w.flat) > maxKeptFlat {
		w.flat = nil
	}
	select {
	case <-w.kick: // a kick that came as the writer left
	default:
	}
	frameWriters.Put(w)
}

// text adds a text frame of body and then tail.
func (w *frameWriter) text(body, tail []byte) {
	w.scratch = appendFrameHeader(w.scratch, websocket.TextMessage, len(body)+len(tail))
	if len(body) < copyBelow {
		w.scratch = append(w.scratch, body...)
	} else {
		w.cut()
		w.parts = append(w.parts, part{ext: body})
	}
	w.scratch = append(w.scratch, tail...)
}

// control adds a control frame; payload holds at most 125 bytes.
func (w *frameWriter) control(op byte, payload []byte) {
	w.scratch = appendFrameHeader(w.scratch, op, len(payload))
	w.scratch = append(w.scratch, payload...)
}

// cut closes the open part of scratch, if it holds anything.
func (w *frameWriter) cut() {
	if w.mark < len(w.scratch) {
		w.parts = append(w.parts, part{from: w.mark, to: len(w.scratch)})
	}
	w.mark = len(w.scratch)
}

// flush writes what was gathered, in one syscall where the socket allows.
func (w *frameWriter) flush(nc net.Conn) error {
	w.cut()
	if len(w.parts) == 0 {
		return nil
	}
	if len(w.parts) == 1 {
		_, err := nc.Write(w.bytes(w.parts[0]))
		return err
	}
	if _, ok := nc.(*net.TCPConn); !ok {
		w.flat = w.flat[:0]
		for _, p := range w.parts {
			w.flat = append(w.flat, w.bytes(p)...)
		}
		_, err := nc.Write(w.flat)
		return err
	}
	w.iov = w.iov[:0]
	for _, p := range w.parts {
		w.iov = append(w.iov, w.bytes(p))
	}
	bufs := w.iov // WriteTo consumes its receiver
	_, err := bufs.WriteTo(nc)
	return err
}

func (w *frameWriter) bytes(p part) []byte {
	if p.ext != nil {
		return p.ext
	}
	return w.scratch[p.from:p.to]
}
