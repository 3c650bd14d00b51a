package client_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/client"
	"github.com/switchboard-rtc/switchboard/signaling/engine"
	redisengine "github.com/switchboard-rtc/switchboard/signaling/engine/redis"
	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
)

// TestFollowsOwner: in a cluster of two nodes sharing a real Redis, a
// client that joins on one node a room placed on the other moves its
// session there (Moving, then Resumed) and goes on exchanging messages
// with a peer left on the first node, nothing lost or repeated.
func TestFollowsOwner(t *testing.T) {
	rs := redistest.Start(t)
	var urls [2]string
	var lns [2]net.Listener
	var nodes []engine.Node
	for i := range lns {
		lns[i] = listen(t)
		urls[i] = "http://" + lns[i].Addr().String()
		nodes = append(nodes, engine.Node{ID: fmt.Sprint("node", i)})
	}
	var engines [2]*redisengine.Engine
	for i := range lns {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		eng, err := redisengine.New(ctx, redisengine.Config{Client: rs.Client(t), NodeID: nodes[i].ID, PublicURL: urls[i], NodeTTL: 400 * time.Millisecond})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() }) // after the server's cleanup
		startServerOn(t, lns[i], signaling.Config{Engine: eng})
		engines[i] = eng
	}
	// Each node learns of the other at a heartbeat, which has no event a
	// test can wait on: poll their views, bounded, before the one join.
	deadline := time.Now().Add(waitFor)
	for _, eng := range engines {
		for len(eng.Nodes()) != len(engines) {
			if time.Now().After(deadline) {
				t.Fatalf("%s sees nodes %v, want both", eng.NodeID(), eng.Nodes())
			}
			time.Sleep(10 * time.Millisecond) // the poll's interval, bounded by the deadline above
		}
	}
	room := ""
	for i := 0; room == ""; i++ { // a room the cluster places on node1
		if name := fmt.Sprint("owned-", i); engine.Place(nodes, name).ID == "node1" {
			room = name
		}
	}
	b := dial(t, urls[0], fastOptions(client.WebSocket))
	a := dial(t, urls[0], fastOptions(client.WebSocket))
	session := a.Session()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	j, err := a.Join(ctx, room, client.JoinOptions{})
	cancel()
	must(t, err)
	if j.Owner != urls[1] {
		t.Fatalf("joined names owner %q, want %q", j.Owner, urls[1])
	}
	if m := next[client.Moving](t, a); m.From != urls[0] || m.To != urls[1] {
		t.Fatalf("moving %+v", m)
	}
	if r := next[client.Resumed](t, a); r.Session != session {
		t.Fatalf("resumed %+v, want session %s", r, session)
	}
	join(t, b, room)
	lockstep(t, b, a, func(i, _ int) bool { return i >= 10 })
	must(t, a.SendMessage(b.Session(), "from the owner node"))
	if m := next[client.Message](t, b); string(m.Data) != `"from the owner node"` {
		t.Fatalf("b got %s", m.Data)
	}
}
