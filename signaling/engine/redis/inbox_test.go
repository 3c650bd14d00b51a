package redis

import (
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

func seqs(evs []wire.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

// TestInbox: the inbox answers only what it knows for certain: nothing
// before a read from Redis told it where the log ends, nothing across a
// missing event, nothing trimmed; and its bytes are the node's count.
func TestInbox(t *testing.T) {
	var total atomic.Int64
	b := &inbox{limits: engine.ReplayLimits{Events: 4, Bytes: 100}, total: &total}
	frame := []byte("0123456789")

	b.put(3, frame) // before any read: kept loose
	if _, ok := b.read(0, nil, 10); ok {
		t.Fatal("an inbox that never learned where the log ends answered")
	}
	b.learned(0, []wire.Event{{Seq: 1, Frame: frame}, {Seq: 2, Frame: frame}}) // Redis: 1 and 2, no more
	if got, ok := b.read(2, nil, 10); !ok || len(got) != 1 || got[0].Seq != 3 {
		t.Fatalf("after learning: %v %v, want event 3 (the loose one)", seqs(got), ok)
	}
	b.put(5, frame) // 4 missing
	if _, ok := b.read(3, nil, 10); ok {
		t.Fatal("answered across a missing event")
	}
	b.put(4, frame)
	if got, ok := b.read(2, nil, 1); !ok || len(got) != 1 || got[0].Seq != 3 {
		t.Fatalf("read with max 1: %v %v", seqs(got), ok)
	}
	if got, ok := b.read(3, nil, 10); !ok || len(got) != 2 || got[1].Seq != 5 {
		t.Fatalf("read after 3: %v %v", seqs(got), ok)
	}
	b.put(4, frame) // a duplicate changes nothing
	if total.Load() != 30 || b.held() != 30 {
		t.Fatalf("held %d, node total %d, want 30", b.held(), total.Load())
	}
	b.ack(4)
	if _, ok := b.read(3, nil, 10); ok {
		t.Fatal("answered for an acknowledged event")
	}
	for seq := uint64(6); seq <= 9; seq++ {
		b.put(seq, frame)
	}
	if got, ok := b.read(5, nil, 10); !ok || len(got) != 4 {
		t.Fatalf("read after 5: %v %v", seqs(got), ok)
	}
	if _, ok := b.read(4, nil, 10); ok {
		t.Fatal("answered for an event trimmed by the bound")
	}
	b.invalidate()
	if _, ok := b.read(9, nil, 10); ok || total.Load() != 0 {
		t.Fatalf("after invalidate: answered %v, node total %d", ok, total.Load())
	}
}

// recorder is a Mailbox that counts what it is told.
type recorder struct{ wakes, overflows, releases atomic.Int32 }

func (m *recorder) Deliver([]byte)                  { m.wakes.Add(1) }
func (m *recorder) Wake()                           { m.wakes.Add(1) }
func (m *recorder) Overflow()                       { m.overflows.Add(1) }
func (m *recorder) Release(string)                  { m.releases.Add(1) }
func (m *recorder) Forwarded(request []byte) []byte { return request }

// FuzzNotices: any notice, however malformed, is parsed without a panic,
// and what it puts in inboxes comes from its own bytes.
func FuzzNotices(f *testing.F) {
	f.Add("da 1 2 {}mb wc fd ")
	f.Add("da 18446744073709551615 0 ")
	f.Add("da 1 99 {}")
	f.Fuzz(func(t *testing.T, notes string) {
		var total atomic.Int64
		r := &Engine{cfg: Config{Logger: slog.New(slog.DiscardHandler)}, local: map[string]engine.Mailbox{},
			inboxes: map[string]*inbox{}, roomOf: map[string]string{}}
		for _, id := range []string{"a", "b", "c"} {
			r.local[id] = &recorder{}
			r.inboxes[id] = &inbox{limits: engine.ReplayLimits{Events: 8, Bytes: 1 << 20}, total: &total}
		}
		nr := noteReader{r: r}
		nr.message(notes)
		nr.message(notes) // as a body, if the first left one pending
		if total.Load() > 2*int64(len(notes)) {
			t.Fatalf("inboxes hold %d bytes from %d bytes of notes", total.Load(), len(notes))
		}
	})
}
