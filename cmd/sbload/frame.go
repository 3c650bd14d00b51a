package main

import (
	"bytes"
	"crypto/rand"
	"net"
	"strings"
	"sync"
)

// The relay scenario writes WebSocket frames itself instead of going
// through gorilla's writer: one connection's offers are built and masked
// once, and a send only patches the timestamp digits and writes a batch in
// one syscall. The client shares the machine's cores with the server, so
// every cycle it saves is a cycle the server gets. gorilla still does the
// handshake and the reading.
//
// Every frame of a connection uses the same mask key. RFC 6455 asks for a
// fresh key per frame so that browsers cannot be steered into writing
// chosen bytes to a proxy; that threat does not apply to a load tool, and
// the server unmasks every byte whatever the key.

const (
	opText  = 0x1
	opClose = 0x8
	opPong  = 0xA
	finBit  = 0x80
	maskBit = 0x80
)

// stampDigits is the width of the send timestamp, nanoseconds since the
// tool started, zero-padded so that frames keep a fixed layout.
const stampDigits = 20

// stampMarker precedes the timestamp: it is the SDP origin line, whose
// session id is a number anyway.
var stampMarker = []byte(`o=- `)

// sdpLines is the body of a plausible browser offer; it is repeated to
// reach the wanted size. In JSON each line ends with the four bytes \r\n.
var sdpLines = []string{
	"s=-", "t=0 0", "a=group:BUNDLE 0 1", "a=extmap-allow-mixed", "a=msid-semantic: WMS stream",
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
	"c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
	"a=ice-ufrag:Lk3d", "a=ice-pwd:q8Jt1m4v9Hc0X2bqZrW7sNfE", "a=ice-options:trickle",
	"a=fingerprint:sha-256 3B:9F:1C:77:A0:5E:D2:48:19:6B:E4:0F:8A:C3:52:7D:91:2E:B6:04:F8:6A:3C:D5:70:1B:E9:84:2F:C6:5A:0D",
	"a=setup:actpass", "a=mid:0", "a=sendrecv", "a=rtcp-mux",
	"a=rtpmap:111 opus/48000/2", "a=rtcp-fb:111 transport-cc", "a=fmtp:111 minptime=10;useinbandfec=1",
	"a=rtpmap:63 red/48000/2", "a=fmtp:63 111/111",
	"a=ssrc:1001 cname:Jx2kPq9sT4vW8yZb", "a=ssrc:1001 msid:stream track-audio",
	"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103",
	"a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 goog-remb", "a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli",
	"a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
	"a=rtpmap:102 H264/90000", "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
}

// offerPayload returns the JSON of an offer to peer "to", exactly size
// bytes long, and the offset of its timestamp digits.
func offerPayload(to string, size int) (payload []byte, stampAt int) {
	return sdpPayload(`{"type":"offer","to":"`+to+`","sdp":"`, `"}`, size)
}

// sdpPayload returns head, an SDP string's content and tail, exactly size
// bytes together, and the offset of the timestamp digits.
func sdpPayload(head, tail string, size int) (payload []byte, stampAt int) {
	var b strings.Builder
	b.WriteString(head + `v=0\r\n`)
	b.Write(stampMarker)
	stampAt = b.Len()
	b.WriteString(strings.Repeat("0", stampDigits) + ` 2 IN IP4 127.0.0.1\r\n`)
	// Whole lines while a padding line ("a=x:" ... "\r\n", 8 bytes at
	// least) still fits after them, then padding to the exact size.
	for i := 0; ; i++ {
		line := sdpLines[i%len(sdpLines)] + `\r\n`
		if b.Len()+len(line)+8+len(tail) > size {
			break
		}
		b.WriteString(line)
	}
	if pad := size - b.Len() - 8 - len(tail); pad >= 0 {
		b.WriteString(`a=x:` + strings.Repeat("x", pad) + `\r\n`)
	}
	b.WriteString(tail)
	return []byte(b.String()), stampAt
}

// offerBatch holds n copies of one connection's offer frame, masked and
// laid end to end, so that a send of k offers is one write of the first k.
type offerBatch struct {
	buf     []byte
	frame   int // bytes per frame, header included
	hdr     int // bytes of header
	stampAt int // offset of the timestamp digits in the payload
	key     [4]byte
}

func newOfferBatch(to string, size, n int, key [4]byte) *offerBatch {
	payload, stampAt := offerPayload(to, size)
	return maskedBatch(payload, stampAt, n, key)
}

// maskedBatch is an offerBatch of n copies of payload.
func maskedBatch(payload []byte, stampAt, n int, key [4]byte) *offerBatch {
	hdr := frameHeader(opText, len(payload), key)
	for i := range payload {
		payload[i] ^= key[i&3]
	}
	one := append(hdr, payload...)
	return &offerBatch{
		buf:     bytes.Repeat(one, n),
		frame:   len(one),
		hdr:     len(hdr),
		stampAt: stampAt,
		key:     key,
	}
}

// stamp writes ts into the first k frames and returns them.
func (o *offerBatch) stamp(k int, ts int64) []byte {
	var masked [stampDigits]byte
	v := uint64(ts)
	for i := stampDigits - 1; i >= 0; i-- {
		masked[i] = byte('0'+v%10) ^ o.key[(o.stampAt+i)&3]
		v /= 10
	}
	for f := range k {
		copy(o.buf[f*o.frame+o.hdr+o.stampAt:], masked[:])
	}
	return o.buf[:k*o.frame]
}

// frameHeader is a final, masked client frame header for a payload of n
// bytes (n < 64 KiB).
func frameHeader(op byte, n int, key [4]byte) []byte {
	h := make([]byte, 0, 8)
	if n <= 125 {
		h = append(h, finBit|op, maskBit|byte(n))
	} else {
		h = append(h, finBit|op, maskBit|126, byte(n>>8), byte(n))
	}
	return append(h, key[:]...)
}

// parseStamp finds the send timestamp in a relayed offer. The server puts
// the sdp after type, from and to, so the marker is near the start.
func parseStamp(frame []byte) (int64, bool) {
	head := frame
	if len(head) > 512 {
		head = head[:512]
	}
	i := bytes.Index(head, stampMarker)
	if i < 0 || i+len(stampMarker)+stampDigits > len(frame) {
		return 0, false
	}
	var v uint64
	for _, c := range frame[i+len(stampMarker) : i+len(stampMarker)+stampDigits] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return int64(v), true
}

// rawWriter serialises this tool's own frame writes on one connection:
// offers from the sender, pongs and the close from the reader.
type rawWriter struct {
	mu  sync.Mutex
	nc  net.Conn
	key [4]byte
}

func newRawWriter(nc net.Conn) *rawWriter {
	w := &rawWriter{nc: nc}
	_, _ = rand.Read(w.key[:])
	return w
}

func (w *rawWriter) write(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.nc.Write(b)
	return err
}

// control writes a control frame (payload ≤ 125 bytes).
func (w *rawWriter) control(op byte, payload []byte) error {
	f := frameHeader(op, len(payload), w.key)
	for i, c := range payload {
		f = append(f, c^w.key[i&3])
	}
	return w.write(f)
}
