package client

import (
	"bufio"
	"bytes"
	"io"
)

// sseReader reads a text/event-stream, the subset of the WHATWG format
// the server sends: "data:" lines joined by newlines, dispatched at a
// blank line, lines ending in LF or CRLF; "id:", "retry:", "event:" and
// comment lines are skipped (the client tracks seq itself). A line over
// max bytes is an error, so a broken server cannot grow memory.
type sseReader struct {
	r   *bufio.Reader
	max int
}

func newSSEReader(r io.Reader, max int) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 16<<10), max: max}
}

// next returns the data of the next event.
func (s *sseReader) next() ([]byte, error) {
	var data []byte
	has := false
	for {
		line, err := s.line()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			if has {
				return data, nil
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		if len(field) == 0 {
			continue // a comment, such as the heartbeat
		}
		value = bytes.TrimPrefix(value, []byte{' '})
		if string(field) != "data" {
			continue
		}
		if has {
			data = append(data, '\n')
		}
		if len(data)+len(value) > s.max {
			return nil, errEventTooLong
		}
		data = append(data, value...)
		has = true
	}
}

// line reads one line without its end (LF, CRLF or CR).
func (s *sseReader) line() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		if len(buf)+len(chunk) > s.max+2 {
			return nil, errEventTooLong
		}
		buf = append(buf, chunk...)
		switch err {
		case nil:
			buf = buf[:len(buf)-1]
			return bytes.TrimSuffix(buf, []byte{'\r'}), nil
		case bufio.ErrBufferFull:
			continue
		default:
			return nil, err
		}
	}
}
