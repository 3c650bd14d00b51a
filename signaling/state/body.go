package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A snapshot's body is binary: tens of thousands of sessions are written
// while the node stops and read while the next one starts, when every
// millisecond is a restart's. Integers are varints (Unix times zigzag),
// strings and byte strings a length then the bytes:
//
//	written  varint (Unix ns)
//	count    uvarint
//	count times: id, token hash, room, name, client tag (strings), limit, next,
//	  taken, applied (uvarints), source (netip.Addr's binary form as a byte
//	  string), grace end (varint, Unix ns), frame count (uvarint), the
//	  frames (byte strings)

var errShort = errors.New("body ends inside a value")

func appendBody(b []byte, s *Snapshot) []byte {
	b = binary.AppendVarint(b, s.Written.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(s.Sessions)))
	for i := range s.Sessions {
		ss := &s.Sessions[i]
		b = appendString(b, ss.ID)
		b = appendBytes(b, ss.TokenHash)
		b = appendString(b, ss.Room)
		b = appendString(b, ss.Name)
		b = appendString(b, ss.ClientTag)
		b = binary.AppendUvarint(b, uint64(ss.Limit))
		b = binary.AppendUvarint(b, ss.Next)
		b = binary.AppendUvarint(b, ss.Taken)
		b = binary.AppendUvarint(b, ss.Applied)
		src, _ := ss.Source.MarshalBinary() // never fails
		b = appendBytes(b, src)
		b = binary.AppendVarint(b, ss.GraceEnds)
		b = binary.AppendUvarint(b, uint64(len(ss.Frames)))
		for _, f := range ss.Frames {
			b = appendBytes(b, f)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// bodyReader reads a body, remembering its first error: every count and
// length is checked against the bytes left before anything is allocated
// for it.
type bodyReader struct {
	b   []byte
	err error
}

func (r *bodyReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *bodyReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns a copy: the file's buffer is not kept alive by the
// frames of the sessions restored from it.
func (r *bodyReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	p := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return p
}

func (r *bodyReader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// count reads a count of items that take at least min bytes each.
func (r *bodyReader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.err = fmt.Errorf("a count of %d items does not fit in %d bytes", n, len(r.b))
		return 0
	}
	return int(n)
}

// minSession is the fewest bytes a session takes: thirteen one-byte
// values (eleven in format 1).
const minSession = 13

// readBody reads a body of format version: 1 has no client tag and no
// applied (a session restored from it has handled no numbered frame).
func readBody(b []byte, version int) (*Snapshot, error) {
	r := &bodyReader{b: b}
	written := r.varint()
	n := r.count(minSession - 2*(Version-version))
	snap := &Snapshot{Written: time.Unix(0, written), Sessions: make([]Session, 0, n)}
	for range n {
		var s Session
		s.ID = r.string()
		s.TokenHash = r.bytes()
		s.Room = r.string()
		s.Name = r.string()
		if version >= 2 {
			s.ClientTag = r.string()
		}
		limit := r.uvarint()
		if limit > 1<<31 {
			return nil, fmt.Errorf("room limit %d", limit)
		}
		s.Limit = int(limit)
		s.Next = r.uvarint()
		s.Taken = r.uvarint()
		if version >= 2 {
			s.Applied = r.uvarint()
		}
		if src := r.bytes(); r.err == nil {
			if err := s.Source.UnmarshalBinary(src); err != nil {
				return nil, fmt.Errorf("source address: %v", err)
			}
		}
		s.GraceEnds = r.varint()
		frames := r.count(1)
		if frames > 0 {
			s.Frames = make([][]byte, 0, frames)
		}
		for range frames {
			s.Frames = append(s.Frames, r.bytes())
		}
		if r.err != nil {
			return nil, r.err
		}
		snap.Sessions = append(snap.Sessions, s)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) > 0 {
		return nil, fmt.Errorf("%d bytes after the last session", len(r.b))
	}
	return snap, nil
}
