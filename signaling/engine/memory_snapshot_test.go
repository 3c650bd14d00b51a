package engine_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// box is a Mailbox that keeps what it is delivered in its log.
type box struct{ log engine.EventLog }

func (b *box) Deliver(frame []byte)        { _, _ = b.log.Append(frame) }
func (b *box) Wake()                       {}
func (b *box) Overflow()                   {}
func (b *box) Release(string)              {}
func (b *box) Forwarded(req []byte) []byte { return req }

func frames(t *testing.T, log engine.EventLog, after uint64) []string {
	t.Helper()
	evs, err := log.Read(after, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, string(ev.Frame))
	}
	return out
}

// TestMemorySaveRestore: a restored engine has the same logs (seqs, taken
// marks, untaken and unacknowledged events, the client's last frame
// handled), rooms in the same order and
// finds a session by its token, though it was given only its hash.
func TestMemorySaveRestore(t *testing.T) {
	old := engine.NewMemory(engine.MemoryConfig{})
	a, b, c := engine.NewSessionRecord(), engine.NewSessionRecord(), engine.NewSessionRecord()
	la, lb := old.Create(a), old.Create(b)
	old.Create(c) // in no room
	joined := func([]wire.PeerInfo) []byte { return []byte(`{"type":"joined"}`) }
	if err := old.Join("r", wire.PeerInfo{ID: a.ID, Name: "Ann", ClientTag: "TAG"}, &box{la}, 4, joined, []byte(`{"type":"peer-joined"}`)); err != nil {
		t.Fatal(err)
	}
	if err := old.Join("r", wire.PeerInfo{ID: b.ID, Name: "Ben"}, &box{lb}, 0, joined, []byte(`{"type":"peer-joined"}`)); err != nil {
		t.Fatal(err)
	}
	if err := old.Send("r", b.ID, a.ID, []byte(`{"type":"offer"}`), 0); err != nil {
		t.Fatal(err)
	}
	la.Taken(2) // joined, peer-joined sent; the offer is not
	la.Ack(1)
	la.Apply(7) // the client's frames up to 7 were handled
	saved := old.Save()
	if len(saved) != 3 || saved[0].ID != a.ID || saved[1].ID != b.ID || saved[2].ID != c.ID {
		t.Fatalf("saved %+v: want a, b (the room's order), then c", saved)
	}
	for _, s := range saved {
		if string(s.TokenHash) == a.Token || len(s.TokenHash) != 32 {
			t.Fatalf("saved token %q: want its SHA-256 only", s.TokenHash)
		}
	}

	restored := engine.NewMemory(engine.MemoryConfig{})
	boxes := map[string]*box{}
	err := restored.Restore(saved, func(rec engine.SessionRecord, log engine.EventLog) engine.Mailbox {
		boxes[rec.ID] = &box{log}
		return boxes[rec.ID]
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := restored.Find(a.ID + ".wrong"); err == nil {
		t.Fatal("found a restored session by a wrong token")
	}
	rec, log, err := restored.Find(a.Token)
	if err != nil || rec != a {
		t.Fatalf("Find(a's token) = %+v, %v", rec, err)
	}
	st, _ := engine.MemoryLogState(log)
	if st != (engine.LogState{First: 2, Taken: 2, Next: 3, Events: 2, Bytes: len(`{"type":"peer-joined"}{"type":"offer"}`)}) {
		t.Fatalf("restored log state %+v", st)
	}
	if got := frames(t, log, 2); !slices.Equal(got, []string{`{"type":"offer"}`}) {
		t.Fatalf("untaken events after restore %q", got)
	}
	if log.Applied() != 7 || log.Apply(7) {
		t.Fatalf("restored applied %d: want 7, and frame 7 not handled again", log.Applied())
	}
	if restored.Held() != old.Held() {
		t.Fatalf("held %d, old %d", restored.Held(), old.Held())
	}
	// The room goes on: b reaches a, and a third peer hears of both.
	if err := restored.Send("r", b.ID, a.ID, []byte(`{"type":"answer"}`), 0); err != nil {
		t.Fatal(err)
	}
	if got := frames(t, log, 3); !slices.Equal(got, []string{`{"type":"answer"}`}) {
		t.Fatalf("after restore a got %q", got)
	}
	d := engine.NewSessionRecord()
	var peers []wire.PeerInfo
	_ = restored.Join("r", wire.PeerInfo{ID: d.ID}, &box{restored.Create(d)}, 0, func(p []wire.PeerInfo) []byte { peers = p; return []byte("{}") }, []byte("{}"))
	if !slices.Equal(peers, []wire.PeerInfo{{ID: a.ID, Name: "Ann", ClientTag: "TAG"}, {ID: b.ID, Name: "Ben"}}) {
		t.Fatalf("a newcomer sees %+v", peers)
	}
	// The limit a joined with (4) is the room's still.
	for range 2 {
		e := engine.NewSessionRecord()
		if err := restored.Join("r", wire.PeerInfo{ID: e.ID}, &box{restored.Create(e)}, 0, joined, []byte("{}")); err != nil && !errors.Is(err, engine.ErrRoomFull) {
			t.Fatal(err)
		}
	}
	if err := restored.Send("r", a.ID, "", []byte("{}"), 0); err != nil || restored.Rooms() != 1 {
		t.Fatal(err)
	}
	// Saved again before b resumed, b keeps its hash.
	again := restored.Save()
	if i := slices.IndexFunc(again, func(s engine.SavedSession) bool { return s.ID == b.ID }); i < 0 || string(again[i].TokenHash) != string(saved[1].TokenHash) {
		t.Fatal("a restored session saved again lost its token hash")
	}
}

// TestMemoryRestoreRefuses: restore is all or nothing.
func TestMemoryRestoreRefuses(t *testing.T) {
	hash := engine.TokenHash("x.y")
	ok := engine.SavedSession{ID: "x", TokenHash: hash, Next: 2, Taken: 1, Frames: [][]byte{[]byte("{}")}}
	for name, bad := range map[string]engine.SavedSession{
		"no id":            {TokenHash: hash},
		"dotted id":        {ID: "a.b", TokenHash: hash},
		"short hash":       {ID: "z", TokenHash: hash[:8]},
		"taken past next":  {ID: "z", TokenHash: hash, Next: 1, Taken: 2},
		"more events":      {ID: "z", TokenHash: hash, Next: 0, Frames: [][]byte{[]byte("{}")}},
		"room no limit":    {ID: "z", TokenHash: hash, Room: "r"},
		"name no room":     {ID: "z", TokenHash: hash, Name: "n"},
		"seq past maximum": {ID: "z", TokenHash: hash, Next: wire.MaxSeq + 1},
		"twice":            ok,
	} {
		t.Run(name, func(t *testing.T) {
			m := engine.NewMemory(engine.MemoryConfig{})
			err := m.Restore([]engine.SavedSession{ok, bad}, func(engine.SessionRecord, engine.EventLog) engine.Mailbox { return nil })
			if !errors.Is(err, engine.ErrBadSnapshot) {
				t.Fatalf("Restore: %v, want ErrBadSnapshot", err)
			}
			if _, _, err := m.Find("x.y"); err == nil {
				t.Fatal("a refused restore kept a session")
			}
		})
	}
	m := engine.NewMemory(engine.MemoryConfig{})
	m.Create(engine.NewSessionRecord())
	if err := m.Restore(nil, nil); !errors.Is(err, engine.ErrBadSnapshot) {
		t.Fatalf("Restore into an engine with sessions: %v", err)
	}
}
