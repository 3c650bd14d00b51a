package wire

// A validating JSON scanner that reports where values start and end
// without decoding them. The relay fast path uses it to pass sdp,
// candidate and data through as the raw JSON they arrived as: decoding a
// 1.5 KB SDP only to encode it again was most of the relay's CPU time.

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

const maxScanDepth = 32 // deeper values take the encoding/json path

type jsonScanner struct {
	b     []byte
	i     int
	depth int
}

func (s *jsonScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// plainASCII marks the bytes a string may hold as they are and that need
// no further check: ASCII but the quote, the backslash and control
// characters. Bytes from 0x80 are checked as UTF-8.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Masks for checking eight bytes at a time (SWAR): a byte of x is a
// quote, a backslash, a control character or not ASCII where special(x)
// has its top bit set. Borrows may also flag bytes above a flagged one,
// never below, so the lowest flag is exact.
const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

func special(x uint64) uint64 {
	q, bs := x^(swarOnes*'"'), x^(swarOnes*'\\')
	return ((q-swarOnes)&^q | (bs-swarOnes)&^bs | (x-swarOnes*0x20)&^x | x) & swarHighs
}

// skipPlain advances over plain ASCII, eight bytes at a time while eight
// are left, then with the table.
func (s *jsonScanner) skipPlain() {
	for s.i+8 <= len(s.b) {
		if m := special(binary.LittleEndian.Uint64(s.b[s.i:])); m != 0 {
			s.i += bits.TrailingZeros64(m) >> 3
			return
		}
		s.i += 8
	}
	for s.i < len(s.b) && plainASCII[s.b[s.i]] {
		s.i++
	}
}

// escapedCRLF is `\r\n` read as a little-endian uint32: an SDP ends every
// line with it, so it is taken in one step.
const escapedCRLF = uint32('\\') | uint32('r')<<8 | uint32('\\')<<16 | uint32('n')<<24

// str consumes a string starting at the opening quote and reports whether
// it holds escapes. It also checks that the string is valid UTF-8, which
// is the only place a valid JSON document can hold bytes from 0x80.
func (s *jsonScanner) str() (escaped, ok bool) {
	s.i++
	for s.i < len(s.b) {
		s.skipPlain()
		if s.i >= len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, true
		case c == '\\':
			escaped = true
			if s.i+4 <= len(s.b) && binary.LittleEndian.Uint32(s.b[s.i:]) == escapedCRLF {
				s.i += 4
				continue
			}
			if s.i+1 >= len(s.b) {
				return false, false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) || !isHex4(s.b[s.i+2:s.i+6]) {
					return false, false
				}
				s.i += 6
			default:
				return false, false
			}
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size <= 1 {
				return false, false
			}
			s.i += size
		default: // a control character
			return false, false
		}
	}
	return false, false
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// value consumes one value of any type, after optional white space.
func (s *jsonScanner) value() bool {
	s.skipSpace()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{':
		return s.object(nil)
	case c == '[':
		return s.array()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

func (s *jsonScanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number follows the JSON grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func (s *jsonScanner) number() bool {
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *jsonScanner) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

func (s *jsonScanner) array() bool {
	if s.depth++; s.depth > maxScanDepth {
		return false
	}
	s.i++ // [
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return true
	}
	for {
		if !s.value() {
			return false
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// object consumes an object. For each member it calls field, when not nil,
// with the raw key (quotes stripped), whether the key has escapes, and the
// raw value; field returns false to abandon the scan.
func (s *jsonScanner) object(field func(key []byte, keyEscaped bool, value []byte) bool) bool {
	if s.depth++; s.depth > maxScanDepth {
		return false
	}
	s.i++ // {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		keyStart := s.i
		escaped, ok := s.str()
		if !ok {
			return false
		}
		key := s.b[keyStart+1 : s.i-1]
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.skipSpace()
		valueStart := s.i
		if !s.value() {
			return false
		}
		if field != nil && !field(key, escaped, s.b[valueStart:s.i]) {
			return false
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}
