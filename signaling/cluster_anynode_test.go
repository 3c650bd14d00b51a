package signaling

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
)

// TestClusterAnyNode: every request of a client may land on any node, as
// behind a round-robin load balancer. An event stream stays on the node
// it opened on while its POSTs go to all three (forwarded, never moving
// the session); a polling client's polls and POSTs rotate over the
// nodes. Both get every message exactly once, in order, and no request
// is answered replaced.
func TestClusterAnyNode(t *testing.T) {
	nodes := startCluster(t, redistest.Start(t), 3, Config{PollWait: 200 * time.Millisecond})
	base := func(i int) string { return httpBase(nodes[i%len(nodes)].url) }
	peer := dial(t, nodes[1].url, nil)
	peer.join("r")

	// The event stream on node 0, its posts everywhere.
	sse := openSSE(t, base(0), "", "")
	w := sse.expect("welcome")
	token, id := w.str("token"), w.str("session")
	postOK(t, base(1), token, frame{"type": "join", "room": "r", "id": 1})
	sse.expect("joined")
	peer.expect("peer-joined")
	const n = 30
	for i := range n {
		postOK(t, base(i), token, frame{"type": "message", "to": peer.id, "data": i})
	}
	for i := range n {
		if m := peer.expect("message"); m["data"] != float64(i) || m.str("from") != id {
			t.Fatalf("message %d: %v", i, m)
		}
	}
	peer.send(frame{"type": "message", "to": id, "data": "back"})
	if m := sse.expect("message"); m["data"] != "back" {
		t.Fatalf("on the stream: %v", m)
	}
	if !runs(nodes[0].srv, id) || runs(nodes[1].srv, id) || runs(nodes[2].srv, id) {
		t.Fatal("a forwarded post moved the session off the node of its stream")
	}

	// A polling client: each poll and each post on the next node.
	status, evs := poll(t, base(2), "")
	if status != http.StatusOK || len(evs) != 1 {
		t.Fatalf("first poll: %d %v", status, evs)
	}
	ptoken, pid := evs[0].str("token"), evs[0].str("session")
	after := seqOf(evs[0])
	postOK(t, base(0), ptoken, frame{"type": "join", "room": "r"})
	peer.expect("peer-joined")
	for i := range n {
		peer.send(frame{"type": "message", "to": pid, "data": i})
		postOK(t, base(i+1), ptoken, frame{"type": "message", "to": peer.id, "data": "p" + strconv.Itoa(i)})
		if m := peer.expect("message"); m["data"] != "p"+strconv.Itoa(i) {
			t.Fatalf("from the poller: %v", m)
		}
	}
	var got []any
	deadline := time.Now().Add(waitFor)
	for i := 0; len(got) < n+1; i++ { // joined, then n messages
		if time.Now().After(deadline) {
			t.Fatalf("after %d polls: %v", i, got)
		}
		status, evs := poll(t, base(i), fmt.Sprintf("token=%s&after=%d", ptoken, after))
		if status != http.StatusOK {
			t.Fatalf("poll %d on node %d: status %d %v", i, i%3, status, evs)
		}
		for _, ev := range evs {
			if seqOf(ev) != after+1 {
				t.Fatalf("poll %d: seq %d after %d: %v", i, seqOf(ev), after, ev)
			}
			after = seqOf(ev)
			if ev.str("type") == "message" {
				got = append(got, ev["data"])
			} else if ev.str("type") == "joined" {
				got = append(got, "joined")
			}
		}
	}
	for i := range n {
		if got[i+1] != float64(i) {
			t.Fatalf("poller got %v", got)
		}
	}
	if !runs(nodes[2].srv, pid) || runs(nodes[0].srv, pid) || runs(nodes[1].srv, pid) {
		t.Fatal("a forwarded poll moved the session off the node that ran it")
	}

	// A busy poller: a poll held (forwarded to the session's node) while
	// a POST of the same client lands on the third node and its peer's
	// answer comes back to the held poll.
	held := make(chan []frame, 1)
	go func() { // polls on node 0 until one carries an event (PollWait is short), bounded
		for end := time.Now().Add(waitFor); time.Now().Before(end); {
			if status, evs := poll(t, base(0), fmt.Sprintf("token=%s&after=%d", ptoken, after)); status != http.StatusOK || len(evs) > 0 {
				held <- evs
				return
			}
		}
	}()
	postOK(t, base(1), ptoken, frame{"type": "message", "to": peer.id, "data": "ping"})
	if m := peer.expect("message"); m["data"] != "ping" {
		t.Fatalf("from the busy poller: %v", m)
	}
	peer.send(frame{"type": "message", "to": pid, "data": "pong"})
	select {
	case evs := <-held:
		if len(evs) != 1 || evs[0]["data"] != "pong" || seqOf(evs[0]) != after+1 {
			t.Fatalf("the held poll answered %v", evs)
		}
	case <-time.After(waitFor):
		t.Fatal("the held poll never answered")
	}
	peer.alive()
}
