package signaling

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/state"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// BenchmarkSnapshot measures a restart's share of a single node: writing
// its sessions to the state file (Snapshot and Save, fsync included) and
// reading them back into the next process (Load and Restore), at 10,000
// sessions in 5,000 rooms of two: idle (every event acknowledged), or
// negotiating, caught half-way: each pair's offerer has joined and
// peer-joined unacknowledged, the answerer joined, a 2 KB offer and four
// candidates it has not taken.
// The state file's size is reported as file-bytes; encode is write
// without the file (the CPU's share: write adds the disk's, fsync
// included).
//
//	go test ./signaling -run '^$' -bench Snapshot -benchtime 10x -count 5
func BenchmarkSnapshot(b *testing.B) {
	for _, negotiating := range []bool{false, true} {
		name := "idle"
		if negotiating {
			name = "negotiating"
		}
		b.Run(name, func(b *testing.B) { benchSnapshot(b, negotiating) })
	}
}

func benchSnapshot(b *testing.B, negotiating bool) {
	const sessions = 10_000
	cfg := Config{KeepSessions: true, MaxSessions: 2 * sessions, MaxSessionsPerAddr: sessions,
		Logger: slog.New(slog.DiscardHandler)}
	old := keepBenchServer(b, cfg)
	sdp := wire.Encode(map[string]string{"sdp": strings.Repeat("a=candidate-ish line of an offer\r\n", 60)})
	for i := 0; i < sessions; i += 2 {
		room := "room-" + itoa(i)
		a, b2 := keepBenchSession(b, old, room, i), keepBenchSession(b, old, room, i+1)
		if !negotiating {
			for _, s := range []*session{a, b2} {
				s.log.Taken(s.log.Last())
				s.log.Ack(s.log.Last())
			}
			continue
		}
		frame := wire.AppendRelayFrame(nil, &wire.Request{Type: "offer", To: b2.id, SDPRaw: sdp}, a.id)
		_ = old.engine.Send(room, a.id, b2.id, frame, 0)
		for c := range 4 {
			cand := wire.Encode(map[string]any{"type": "candidate", "from": a.id, "candidate": map[string]any{
				"candidate": "candidate:" + itoa(c) + " 1 udp 2130706431 192.0.2.1 5000" + itoa(c) + " typ host", "sdpMid": "0"}})
			_ = old.engine.Send(room, a.id, b2.id, cand, 0)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := old.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "state")
	f, err := state.Open(ctx, path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()

	b.Run("encode", func(b *testing.B) { // write's CPU share: no file
		for b.Loop() {
			b.StopTimer()
			runtime.GC() // the last round's garbage is not this one's
			b.StartTimer()
			if _, err := state.Encode(old.Snapshot(time.Now())); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("write", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			runtime.GC()
			b.StartTimer()
			if err := f.Save(old.Snapshot(time.Now())); err != nil {
				b.Fatal(err)
			}
		}
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fi.Size()), "file-bytes")
	})
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if err := f.Save(old.Snapshot(time.Now())); err != nil {
				b.Fatal(err)
			}
			next := keepBenchServer(b, cfg)
			runtime.GC()
			b.StartTimer()
			snap, err := f.Load(time.Now(), time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := next.Restore(snap); err != nil || n != sessions {
				b.Fatalf("restored %d, %v", n, err)
			}
			b.StopTimer()
			if err := next.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}

func keepBenchServer(b *testing.B, cfg Config) *Server {
	b.Helper()
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

// keepBenchSession is a session of a client that joined room and then
// lost its channel.
func keepBenchSession(b *testing.B, s *Server, room string, i int) *session {
	b.Helper()
	sess := newSession(s, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	if err := s.register(sess); err != nil {
		b.Fatal(err)
	}
	_ = sess.deliver(sess.welcome())
	sess.log.Taken(1)
	sess.log.Ack(1)
	joined := func(peers []wire.PeerInfo) []byte {
		return wire.Encode(wire.Joined{Type: "joined", Room: room, Peers: peers})
	}
	if err := s.engine.Join(room, wire.PeerInfo{ID: sess.id, Name: "peer " + itoa(i)}, sess, 0, joined,
		wire.Encode(wire.PeerEvent{Type: "peer-joined", Peer: wire.PeerInfo{ID: sess.id}})); err != nil {
		b.Fatal(err)
	}
	sess.room = room
	return sess
}
