package wire

import "bytes"

// DecodeRelayFast decodes offer, answer, candidate and message frames
// without unescaping their payload: sdp, candidate and data stay the raw
// JSON they arrived as and are spliced into the relayed frame. It gives
// up (ok false) on anything it does not handle exactly as encoding/json
// would — other types, escaped or case-folded keys, type mismatches, deep
// nesting — and DecodeRequest then takes the frame. It decodes into
// req, the caller's, so that a relayed frame allocates no request (240
// bytes of garbage per offer, 11 % of what the relay allocated:
// docs/benchmarks.md, issue 9, branch p99); req then aliases frame.
func DecodeRelayFast(frame []byte, req *Request) (ok bool) {
	// The scanner checks UTF-8 in strings, the only place a document it
	// accepts can hold bytes from 0x80.
	s := jsonScanner{b: frame}
	s.skipSpace()
	if s.i >= len(frame) || frame[s.i] != '{' {
		return false
	}
	if !s.object(req.fastField) {
		return false
	}
	if s.skipSpace(); s.i != len(frame) {
		return false
	}
	switch req.Type {
	case TypeOffer, TypeAnswer, TypeCandidate, TypeMessage:
		return true
	}
	return false
}

func (r *Request) fastField(key []byte, keyEscaped bool, v []byte) bool {
	if keyEscaped {
		return false
	}
	switch string(key) {
	case "type":
		inner, ok := plainString(v)
		if !ok {
			return false
		}
		switch string(inner) { // constants, so no allocation
		case TypeOffer:
			r.Type = TypeOffer
		case TypeAnswer:
			r.Type = TypeAnswer
		case TypeCandidate:
			r.Type = TypeCandidate
		case TypeMessage:
			r.Type = TypeMessage
		default:
			return false
		}
	case "id":
		r.ID = v
	case "to":
		inner, ok := plainString(v)
		if !ok {
			return false
		}
		r.To = string(inner)
	case "sdp":
		if v[0] != '"' {
			return false
		}
		r.SDPRaw = v
	case "candidate":
		r.Candidate = v
	case "data":
		r.Data = v
	case "cseq":
		n, ok := plainUint(v)
		if !ok {
			return false // encoding/json says what is wrong with it
		}
		r.CSeq = n
	case "room", "name", "token", "client":
		return v[0] == '"' // unused here, but a wrong type is a bad_json
	case "relay":
		return string(v) == "true" || string(v) == "false"
	default:
		// encoding/json matches keys case-insensitively; leave those to it.
		for _, known := range knownKeys {
			if bytes.EqualFold(key, []byte(known)) {
				return false
			}
		}
	}
	return true
}

var knownKeys = [...]string{"type", "id", "room", "name", "to", "sdp", "candidate", "data", "cseq", "token", "client", "relay"}

// plainUint reads a JSON number that is an integer from 1 to MaxSeq
// written without sign, fraction or exponent.
func plainUint(v []byte) (uint64, bool) {
	if len(v) == 0 || len(v) > 16 || v[0] == '0' {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n <= MaxSeq
}

// plainString returns the content of a JSON string without escapes.
func plainString(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || bytes.IndexByte(v, '\\') >= 0 {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// AppendRelayFrame writes the frame the recipients of r get: r's fields
// with "from" added and "id" dropped.
func AppendRelayFrame(dst []byte, r *Request, from string) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, r.Type...) // one of the four relay types
	dst = append(dst, `","from":`...)
	dst = AppendJSONString(dst, from)
	if r.To != "" {
		dst = append(dst, `,"to":`...)
		dst = AppendJSONString(dst, r.To)
	}
	if r.SDPRaw != nil {
		dst = append(dst, `,"sdp":`...)
		dst = append(dst, r.SDPRaw...)
	}
	if r.Candidate != nil {
		dst = append(dst, `,"candidate":`...)
		dst = append(dst, r.Candidate...)
	}
	if r.Data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, r.Data...)
	}
	return append(dst, '}')
}

// AppendJSONString quotes s, which is valid UTF-8, as a JSON string.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	if plainString8(s) { // session ids and most recipients: copied as they are
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plainString8 reports whether s is plain ASCII that a JSON string holds
// as it is, eight bytes at a time.
func plainString8(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if special(x) != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if !plainASCII[s[i]] {
			return false
		}
	}
	return true
}
