package signaling

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); accepted <- c }()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestReadAhead reads a stream through 1 KiB reads, as gorilla's buffer
// does: the bytes arrive intact and in order, written at once or in small
// pieces, and no buffer is held once everything was read.
func TestReadAhead(t *testing.T) {
	data := make([]byte, 200<<10)
	_, _ = rand.Read(data)
	for _, piece := range []int{len(data), 4096, 7} {
		client, server := tcpPair(t)
		var ra readAhead
		if ra.rawConn(server) == nil {
			t.Fatal("a TCP connection has a descriptor")
		}
		go func() {
			for rest := data; len(rest) > 0; rest = rest[min(piece, len(rest)):] {
				if _, err := client.Write(rest[:min(piece, len(rest))]); err != nil {
					return
				}
			}
			client.Close()
		}()
		_ = server.SetReadDeadline(time.Now().Add(waitFor))
		var got []byte
		p := make([]byte, 1024)
		aheads := 0
		for {
			n, err := ra.read(server, p)
			got = append(got, p[:n]...)
			if ra.buf != nil && ra.buf.r == 0 {
				aheads++
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("pieces of %d: %d bytes differ from the %d written", piece, len(got), len(data))
		}
		if ra.buf != nil {
			t.Fatalf("pieces of %d: a buffer is held after the end", piece)
		}
		if piece == len(data) && aheads == 0 {
			t.Fatal("one large write was read without reading ahead")
		}
	}
}

// maskedFrame is a client text frame (RFC 6455: masked).
func maskedFrame(payload []byte) []byte {
	key := [4]byte{1, 2, 3, 4}
	f := []byte{0x81}
	switch n := len(payload); {
	case n <= 125:
		f = append(f, 0x80|byte(n))
	default:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	}
	f = append(f, key[:]...)
	for i, c := range payload {
		f = append(f, c^key[i&3])
	}
	return f
}

// TestReadAheadFrames sends a burst of offers in one write, and again cut
// into 5-byte writes, through the server: each arrives once and in order.
func TestReadAheadFrames(t *testing.T) {
	_, url := startServer(t, Config{RateLimit: 1e6, RateBurst: 1e6, ByteRate: 1 << 30, ByteBurst: 1 << 30})
	rx, tx := dial(t, url, nil), dial(t, url, nil)
	rx.join("ahead")
	tx.join("ahead")
	seq := seqOf(rx.expect("peer-joined"))
	for _, piece := range []int{1 << 30, 5} {
		var burst []byte
		const n = 200
		for i := range n {
			msg, _ := json.Marshal(frame{"type": "offer", "to": rx.id, "sdp": strings.Repeat("v=0\r\n", 300) + string(rune('a'+i%26))})
			burst = append(burst, maskedFrame(msg)...)
		}
		nc := tx.ws.NetConn()
		for rest := burst; len(rest) > 0; rest = rest[min(piece, len(rest)):] {
			if _, err := nc.Write(rest[:min(piece, len(rest))]); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			f := rx.read()
			seq++
			if seqOf(f) != seq || f.str("type") != "offer" || f.str("sdp") != strings.Repeat("v=0\r\n", 300)+string(rune('a'+i%26)) {
				t.Fatalf("pieces of %d, offer %d: seq %d, want %d: %.80v", piece, i, seqOf(f), seq, f)
			}
		}
	}
	tx.alive()
	rx.alive()
}
