package wire

import "strconv"

// Event is one numbered server→client message of a session. Frame is the
// encoded message without its seq: channels add `"seq":N` as they write,
// so one frame is shared by every recipient of a broadcast.
type Event struct {
	Seq   uint64
	Frame []byte
}

// MaxSeq bounds sequence numbers to what JavaScript numbers hold exactly.
const MaxSeq = 1<<53 - 1

// ParseSeq reads a sequence number: decimal digits only, no sign, no
// spaces, at most maxSeq.
func ParseSeq(s string) (uint64, error) {
	if s == "" {
		return 0, errBadSeq
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadSeq
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > MaxSeq {
		return 0, errBadSeq
	}
	return n, nil
}

// AppendEvent writes ev as its JSON object with "seq" added as the last
// key. Every server frame is an encoded object, so it ends with '}'.
func AppendEvent(dst []byte, ev Event) []byte {
	dst = append(dst, ev.Frame[:len(ev.Frame)-1]...)
	return AppendSeqSuffix(dst, ev.Seq)
}

func AppendSeqSuffix(dst []byte, seq uint64) []byte {
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	return append(dst, '}')
}
