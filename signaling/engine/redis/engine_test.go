package redis

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/engine/enginetest"
	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestContract runs the engine contract against the Redis engine.
func TestContract(t *testing.T) {
	rs := redistest.Start(t)
	client := rs.Client(t)
	var n atomic.Int32
	enginetest.Run(t, func(t *testing.T, limits engine.ReplayLimits) engine.Engine {
		// A prefix per engine: the contract reuses session ids.
		return newTestEngine(t, client, Config{Limits: limits, Prefix: fmt.Sprintf("{c%d}:", n.Add(1))})
	})
}

func newTestEngine(t *testing.T, client goredis.UniversalClient, cfg Config) *Engine {
	t.Helper()
	cfg.Client = client
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	eng, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// TestSlowRedisIsNoOutage: a call that times out while Redis is busy
// fails alone; the node does not refuse everything until the next
// heartbeat, and the next call after Redis answers again goes through.
func TestSlowRedisIsNoOutage(t *testing.T) {
	rs := redistest.Start(t)
	eng := newTestEngine(t, rs.Client(t), Config{Timeout: 100 * time.Millisecond})
	log := eng.Create(engine.SessionRecord{ID: "a", Token: "a.ta"})
	slept := rs.Sleep(t, 500*time.Millisecond)
	if _, err := log.Append([]byte(`{}`)); err == nil {
		t.Fatal("an append with Redis asleep succeeded")
	}
	if err := eng.Ready(); err != nil {
		t.Fatalf("one slow call made the node unready: %v", err)
	}
	if err := <-slept; err != nil {
		t.Fatal(err)
	}
	if _, err := log.Append([]byte(`{}`)); err != nil {
		t.Fatalf("append after Redis woke: %v", err)
	}
}

// TestDeadNodeInBatches: a dead node's sessions reach orphans a bounded
// batch per heartbeat, so that no script holds Redis for all of them;
// and a node listed again under the same id starts a new set.
func TestDeadNodeInBatches(t *testing.T) {
	rs := redistest.Start(t)
	c := rs.Client(t)
	ctx := t.Context()
	const n = 2500
	for i := range n {
		id := fmt.Sprintf("s%d", i)
		c.HSet(ctx, "{sb}:s:"+id, "owner", "dead", "room", "", "next", 0, "taken", 0, "bytes", 0, "first", 1)
		c.SAdd(ctx, "{sb}:ns:dead", id)
	}
	c.ZAdd(ctx, "{sb}:nodes", goredis.Z{Score: 1, Member: "dead"})
	eng := newTestEngine(t, c, Config{NodeID: "live"}) // its first beat finds "dead"
	orphans := func() int64 { return c.ZCard(ctx, "{sb}:orphans").Val() }
	if got := orphans(); got != 1024 {
		t.Fatalf("after one beat: %d orphans, want 1024", got)
	}
	if c.Exists(ctx, "{sb}:ns:dead").Val() != 0 {
		t.Fatal("the dead node's set is still under its name")
	}
	for _, want := range []int64{2048, n} {
		if err := eng.shards[0].beat(false); err != nil {
			t.Fatal(err)
		}
		if got := orphans(); got != want {
			t.Fatalf("%d orphans, want %d", got, want)
		}
	}
	if got := c.HLen(ctx, "{sb}:dying").Val(); got != 0 {
		t.Fatalf("%d dead nodes still waiting", got)
	}
}

// TestSendTimeoutRunsOnce: a relay whose answer times out while Redis is
// busy is sent again with the same id; Redis runs it once, and Send
// reports it done instead of unavailable.
func TestSendTimeoutRunsOnce(t *testing.T) {
	rs := redistest.Start(t)
	eng := newTestEngine(t, rs.Client(t), Config{Timeout: 200 * time.Millisecond})
	logs := adoptSessions(t, eng, "a", "b")
	for _, id := range []string{"a", "b"} {
		if err := eng.Join("r", wire.PeerInfo{ID: id}, nil, 0, plainJoined, []byte(`{"type":"peer-joined"}`)); err != nil {
			t.Fatal(err)
		}
	}
	// A connection in the pool first, so that the send is written at
	// once: a new connection would wait for Redis to greet it, and the
	// send would not be written before it timed out.
	if err := eng.Send("r", "a", "b", []byte(`{"type":"message","data":"warm"}`), 0); err != nil {
		t.Fatal(err)
	}
	slept := rs.Sleep(t, 300*time.Millisecond)
	if err := eng.Send("r", "a", "b", []byte(`{"type":"message","data":"once"}`), 0); err != nil {
		t.Fatalf("a send that timed out once: %v", err)
	}
	if err := <-slept; err != nil {
		t.Fatal(err)
	}
	evs, err := logs["b"].Read(0, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if strings.Contains(string(ev.Frame), "once") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the frame is in b's log %d times", n)
	}
}

// TestJoinTimeoutRunsOnce: a join whose answer did not come in time runs
// again, and Redis does not repeat it: the node does not answer
// unavailable for a join that happened, and every member hears of the
// newcomer once.
func TestJoinTimeoutRunsOnce(t *testing.T) {
	rs := redistest.Start(t)
	eng := newTestEngine(t, rs.Client(t), Config{Timeout: 200 * time.Millisecond})
	logs := adoptSessions(t, eng, "a", "b")
	if err := eng.Join("r", wire.PeerInfo{ID: "a"}, nil, 0, plainJoined, []byte(`{"type":"peer-joined"}`)); err != nil {
		t.Fatal(err)
	}
	slept := rs.Sleep(t, 300*time.Millisecond)
	if err := eng.Join("r", wire.PeerInfo{ID: "b"}, nil, 0, plainJoined, []byte(`{"type":"peer-joined"}`)); err != nil {
		t.Fatalf("a join that timed out once: %v", err)
	}
	if err := <-slept; err != nil {
		t.Fatal(err)
	}
	count := func(id, typ string) int {
		evs, err := logs[id].Read(0, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if strings.Contains(string(ev.Frame), `"type":"`+typ+`"`) {
				n++
			}
		}
		return n
	}
	if a, b := count("a", "peer-joined"), count("b", "joined"); a != 1 || b != 1 {
		t.Fatalf("a heard of b %d times, b's joined is in its log %d times", a, b)
	}
}

// adoptSessions creates and adopts a session per id and returns their logs.
func adoptSessions(t *testing.T, eng *Engine, ids ...string) map[string]engine.EventLog {
	t.Helper()
	logs := map[string]engine.EventLog{}
	for _, id := range ids {
		rec := engine.SessionRecord{ID: id, Token: id + ".t"}
		logs[id] = eng.Create(rec)
		if _, err := eng.Adopt(rec, &recorder{}); err != nil {
			t.Fatal(err)
		}
	}
	return logs
}

// plainJoined is a joined frame with its peers, as the node's is.
func plainJoined(peers []wire.PeerInfo) []byte {
	return wire.Encode(map[string]any{"type": "joined", "peers": peers})
}
