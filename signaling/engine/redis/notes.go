package redis

import (
	"strconv"
	"strings"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// A note is what a script tells a session's node about it (lib.lua's
// note): the kind letter, the session id and a space; 'd', 'q' and 'a'
// notes then have a tag, a space, their body's length and a space. The
// body follows in the same message ('a', which Go publishes) or, from a
// script, as the next message alone: concatenating it in Lua would cost
// a hash of every byte.
type note struct {
	kind    byte
	id, tag string
	size    int
	body    []byte
}

// noteReader reads the notes of consecutive messages: the published ones
// of one notice channel, or the list a script returned.
type noteReader struct {
	r  *Engine
	sh *shard // the notes came from
	// pending is a note whose body is the next message.
	pending *note
}

// message reads one message: notes, or the body of the pending one.
func (nr *noteReader) message(msg string) {
	if p := nr.pending; p != nil {
		nr.pending = nil
		if len(msg) != p.size {
			nr.r.cfg.Logger.Error("redis: malformed notice", "session", p.id)
			return
		}
		p.body = []byte(msg)
		nr.r.act(nr.sh, *p)
		return
	}
	for msg != "" {
		n := note{kind: msg[0]}
		sp := strings.IndexByte(msg, ' ')
		if sp < 1 {
			nr.r.cfg.Logger.Error("redis: malformed notice")
			return
		}
		n.id, msg = msg[1:sp], msg[sp+1:]
		if n.kind == 'd' || n.kind == 'q' || n.kind == 'a' {
			tag, rest, ok1 := strings.Cut(msg, " ")
			size, rest, ok2 := strings.Cut(rest, " ")
			var err error
			n.tag = tag
			n.size, err = strconv.Atoi(size)
			if !ok1 || !ok2 || err != nil || n.size < 0 || (rest != "" && n.size > len(rest)) {
				nr.r.cfg.Logger.Error("redis: malformed notice", "session", n.id)
				return
			}
			if rest == "" && n.size > 0 {
				nr.pending = &n
				return
			}
			n.body, msg = []byte(rest[:n.size]), rest[n.size:]
		}
		nr.r.act(nr.sh, n)
	}
}

// dispatchResult acts on the notes a script on sh returned for this
// node: a list of messages.
func (r *Engine) dispatchResult(sh *shard, res any) {
	list, _ := res.([]any)
	nr := noteReader{r: r, sh: sh}
	for _, m := range list {
		if s, ok := m.(string); ok {
			nr.message(s)
		}
	}
}

// act carries out one note: 'd' keeps the event in the session's inbox
// and wakes it, 'q' hands a forwarded request to it, 'f' ends it as a
// slow consumer, 'm' lets it go to the node that adopted it; 'a' is the
// answer to a request this node forwarded (forward.go).
func (r *Engine) act(sh *shard, n note) {
	if n.kind == 'a' {
		r.answered(n.id, n.tag, n.body)
		return
	}
	r.mu.Lock()
	mb, in := r.local[n.id], r.inboxes[n.id]
	if n.kind == 'm' && mb != nil {
		r.forgetLocked(n.id)
	}
	r.mu.Unlock()
	if n.kind == 'q' {
		go r.serveForwarded(sh, mb, n.tag, n.body)
		return
	}
	if mb == nil {
		return
	}
	switch n.kind {
	case 'd':
		seq, err := strconv.ParseUint(n.tag, 10, 64)
		if err != nil {
			r.cfg.Logger.Error("redis: malformed notice", "session", n.id)
			return
		}
		in.put(seq, n.body)
		mb.Wake()
	case 'f':
		mb.Overflow()
	case 'm':
		mb.Release(wire.CodeReplaced)
	}
}
