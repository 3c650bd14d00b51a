package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/engine/enginetest"
	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// startShards runs n independent redis-servers.
func startShards(t *testing.T, n int) ([]*redistest.Server, []goredis.UniversalClient) {
	t.Helper()
	var servers []*redistest.Server
	var clients []goredis.UniversalClient
	for range n {
		rs := redistest.Start(t)
		servers = append(servers, rs)
		clients = append(clients, rs.Client(t))
	}
	return servers, clients
}

// TestContractShards runs the engine contract over three independent
// Redis servers: rooms land on different shards, and sessions move to
// their room's.
func TestContractShards(t *testing.T) {
	_, clients := startShards(t, 3)
	var n atomic.Int32
	enginetest.Run(t, func(t *testing.T, limits engine.ReplayLimits) engine.Engine {
		return newTestEngine(t, nil, Config{Shards: clients, Limits: limits, Prefix: fmt.Sprintf("{c%d}:", n.Add(1))})
	})
}

// TestContractCluster runs the engine contract on a real Redis Cluster
// of three masters: keys spread over partitions' hash tags, notes travel
// by sharded pub/sub.
func TestContractCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	client := cluster.Client(t)
	var n atomic.Int32
	enginetest.Run(t, func(t *testing.T, limits engine.ReplayLimits) engine.Engine {
		eng := newTestEngine(t, client, Config{Limits: limits, Prefix: fmt.Sprintf("{c%d}:", n.Add(1))})
		if len(eng.shards) != defaultPartitions || eng.shards[0].pub != "SPUBLISH" {
			t.Fatalf("%d shards publishing with %s on a cluster, want %d with SPUBLISH",
				len(eng.shards), eng.shards[0].pub, defaultPartitions)
		}
		return eng
	})
	// The partitions' keys are spread over every master.
	for _, m := range cluster.Masters {
		if n := m.Client(t).DBSize(t.Context()).Val(); n == 0 {
			t.Errorf("master %s holds no key", m.Addr())
		}
	}
}

// roomOn finds a room name placed on shard sh.
func roomOn(t *testing.T, e *Engine, sh *shard, prefix string) string {
	t.Helper()
	for i := range 1000 {
		if room := fmt.Sprintf("%s-%d", prefix, i); e.roomShard(room) == sh {
			return room
		}
	}
	t.Fatal("no room lands on the shard")
	return ""
}

type testPeer struct {
	rec engine.SessionRecord
	log engine.EventLog
}

func (p *testPeer) Deliver([]byte)            {}
func (p *testPeer) Wake()                     {}
func (p *testPeer) Overflow()                 {}
func (p *testPeer) Release(string)            {}
func (p *testPeer) Forwarded(b []byte) []byte { return b }

func newTestPeer(t *testing.T, e *Engine, id string) *testPeer {
	t.Helper()
	p := &testPeer{rec: engine.SessionRecord{ID: id, Token: id + ".secret"}}
	p.log = e.Create(p.rec)
	if _, err := e.Adopt(p.rec, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *testPeer) join(e *Engine, room string) error {
	joined := func(peers []wire.PeerInfo) []byte {
		return wire.Encode(wire.Joined{Type: "joined", Room: room, Peers: peers})
	}
	return e.Join(room, wire.PeerInfo{ID: p.rec.ID}, p, 0, joined,
		wire.Encode(wire.PeerEvent{Type: "peer-joined", Peer: wire.PeerInfo{ID: p.rec.ID}}))
}

// types reads the type of every event in p's log after seq after.
func (p *testPeer) types(t *testing.T, after uint64) []string {
	t.Helper()
	evs, err := p.log.Read(after, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		var f struct{ Type string }
		if err := json.Unmarshal(ev.Frame, &f); err != nil {
			t.Fatalf("event %d: %v", ev.Seq, err)
		}
		out = append(out, f.Type)
	}
	return out
}

// TestShardDown: with one of three shards stopped, only its rooms are
// unavailable; the node stays ready, the others' rooms relay, and once
// the shard is back its rooms work again.
func TestShardDown(t *testing.T) {
	servers, clients := startShards(t, 3)
	eng := newTestEngine(t, nil, Config{Shards: clients})
	down, up := eng.shards[1], eng.shards[2]
	a, b := newTestPeer(t, eng, "a"), newTestPeer(t, eng, "b")
	live := roomOn(t, eng, up, "live")
	for _, p := range []*testPeer{a, b} {
		if err := p.join(eng, live); err != nil {
			t.Fatal(err)
		}
	}
	servers[1].Stop()
	_ = down.beat(false) // what the next heartbeat finds
	if err := eng.Ready(); err != nil {
		t.Fatalf("one shard down made the node unready: %v", err)
	}
	c := newTestPeer(t, eng, "c")
	if err := c.join(eng, roomOn(t, eng, down, "dead")); err == nil || errors.Is(err, engine.ErrRoomFull) {
		t.Fatalf("join into a room of the stopped shard: %v, want unavailable", err)
	}
	if err := eng.Send(live, "a", "b", []byte(`{"type":"offer","from":"a"}`), 0); err != nil {
		t.Fatalf("send in a room of a live shard: %v", err)
	}
	if got := b.types(t, 0); !slices.Contains(got, "offer") {
		t.Fatalf("b's log %v has no offer", got)
	}
	if err := servers[1].Start(); err != nil {
		t.Fatal(err)
	}
	if err := down.beat(false); err != nil {
		t.Fatal(err)
	}
	d := newTestPeer(t, eng, "d")
	if err := d.join(eng, roomOn(t, eng, down, "back")); err != nil {
		t.Fatalf("join after the shard came back: %v", err)
	}
}

// TestMoveBetweenShards: a session that leaves a room on one shard and
// joins one on another keeps its log: seqs go on, nothing is lost, and
// the new room's member hears of it once.
func TestMoveBetweenShards(t *testing.T) {
	_, clients := startShards(t, 2)
	eng := newTestEngine(t, nil, Config{Shards: clients})
	first, second := roomOn(t, eng, eng.shards[0], "first"), roomOn(t, eng, eng.shards[1], "second")
	a, b := newTestPeer(t, eng, "a"), newTestPeer(t, eng, "b")
	if err := a.join(eng, first); err != nil {
		t.Fatal(err)
	}
	if err := b.join(eng, second); err != nil {
		t.Fatal(err)
	}
	eng.Leave(first, "a", wire.Encode(wire.PeerEvent{Type: "peer-left", Peer: wire.PeerInfo{ID: "a"}}))
	if _, err := a.log.Append([]byte(`{"type":"pong"}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.join(eng, second); err != nil {
		t.Fatal(err)
	}
	if err := eng.Send(second, "b", "a", []byte(`{"type":"offer","from":"b"}`), 0); err != nil {
		t.Fatal(err)
	}
	if got, want := a.types(t, 0), []string{"joined", "pong", "joined", "offer"}; !slices.Equal(got, want) {
		t.Fatalf("a's log after the move: %v, want %v", got, want)
	}
	if got, want := b.types(t, 0), []string{"joined", "peer-joined"}; !slices.Equal(got, want) {
		t.Fatalf("b's log: %v, want %v", got, want)
	}
	if n := clients[0].Exists(t.Context(), "{sb}:s:a").Val(); n != 0 {
		t.Fatal("the old shard still has the moved session")
	}
}

// TestMoveFinishedByAnotherNode: a node that dies between the first step
// of a move and the second leaves a stub; the node the client resumes on
// finishes the move, and the join happens once.
func TestMoveFinishedByAnotherNode(t *testing.T) {
	_, clients := startShards(t, 2)
	dying := newTestEngine(t, nil, Config{Shards: clients})
	first, second := dying.shards[0], dying.shards[1]
	room := roomOn(t, dying, second, "room")
	b := newTestPeer(t, dying, "b")
	if err := b.join(dying, room); err != nil {
		t.Fatal(err)
	}
	// Session a on the first shard, moving into room on the second: the
	// node runs step 1 and dies.
	a := &testPeer{rec: engine.SessionRecord{ID: "a", Token: "a.secret"}}
	if _, err := first.run(scriptCreate, nil, "a", "a.secret").Result(); err != nil {
		t.Fatal(err)
	}
	joined := wire.Encode(wire.Joined{Type: "joined", Room: room, Peers: []wire.PeerInfo{{ID: "\x00peers\x00"}}})
	pre, post, _ := cutMarker(joined)
	args := joinArgs(room, wire.PeerInfo{ID: "a"}, []byte(`{"id":"a"}`), 8, pre, post,
		wire.Encode(wire.PeerEvent{Type: "peer-joined", Peer: wire.PeerInfo{ID: "a"}}))
	if _, err := first.run(scriptMoveOut, nil, append([]any{"a", second.name}, args...)...).Result(); err != nil {
		t.Fatal(err)
	}
	dying.Close()

	other := newTestEngine(t, nil, Config{Shards: clients})
	rec, log, err := other.Find("a.secret")
	if err != nil {
		t.Fatal("the resuming node did not find the session half-way through its move")
	}
	a.rec, a.log = rec, log
	if _, err := other.Adopt(rec, a); err != nil {
		t.Fatal(err)
	}
	if got, want := a.types(t, 0), []string{"joined"}; !slices.Equal(got, want) {
		t.Fatalf("a's log after the finished move: %v, want %v", got, want)
	}
	// Finding it again changes nothing: the join happened once.
	if _, _, err := other.Find("a.secret"); err != nil {
		t.Fatal("the session is gone after its move")
	}
	bl := other.newLog("b", other.shards[1])
	if got, want := (&testPeer{log: bl}).types(t, 0), []string{"joined", "peer-joined"}; !slices.Equal(got, want) {
		t.Fatalf("b's log: %v, want %v", got, want)
	}
	if n := clients[0].Exists(t.Context(), "{sb}:s:a").Val(); n != 0 {
		t.Fatal("the stub is still on the first shard")
	}
}

// TestNewWithoutRedis: with no shard answering, New fails and leaves no
// goroutine behind (TestMain checks); with one of two answering, it
// starts, and the other's rooms wait for it.
func TestNewWithoutRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	gone := goredis.NewClient(&goredis.Options{Addr: dead, MaxRetries: -1})
	t.Cleanup(func() { gone.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if eng, err := New(ctx, Config{Client: gone, Timeout: 200 * time.Millisecond}); err == nil {
		eng.Close()
		t.Fatal("New without a reachable Redis succeeded")
	}
	_, clients := startShards(t, 1)
	eng := newTestEngine(t, nil, Config{Shards: []goredis.UniversalClient{clients[0], gone}, Timeout: 200 * time.Millisecond})
	if err := eng.Ready(); err != nil || !eng.shards[0].up.Load() || eng.shards[1].up.Load() {
		t.Fatalf("one of two shards up: ready %v, up %v %v", err, eng.shards[0].up.Load(), eng.shards[1].up.Load())
	}
}
