package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	redisengine "github.com/switchboard-rtc/switchboard/signaling/engine/redis"
	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

func newTestEngine(t *testing.T, client redis.UniversalClient, cfg redisengine.Config) *redisengine.Engine {
	t.Helper()
	cfg.Client = client
	ctx, cancel := contextWithTimeout(waitFor)
	defer cancel()
	eng, err := redisengine.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// node is one signaling server of a test cluster.
type node struct {
	srv *Server
	eng *redisengine.Engine
	url string
}

// startCluster starts n signaling servers in this process sharing rs;
// tune, if any, changes each node's engine configuration.
func startCluster(t *testing.T, rs *redistest.Server, n int, cfg Config, tune ...func(*redisengine.Config)) []node {
	t.Helper()
	nodes := make([]node, n)
	for i := range nodes {
		rcfg := redisengine.Config{NodeID: "node" + strconv.Itoa(i),
			PublicURL: "https://node" + strconv.Itoa(i) + ".example", NodeTTL: 400 * time.Millisecond}
		for _, f := range tune {
			f(&rcfg)
		}
		eng := newTestEngine(t, rs.Client(t), rcfg)
		c := cfg
		c.Engine = eng
		srv, url := startServer(t, c) // its cleanup runs before eng's
		nodes[i] = node{srv: srv, eng: eng, url: url}
	}
	for _, nd := range nodes { // every node sees every other after a heartbeat, which no event announces
		eventually(t, waitFor, nd.eng.NodeID()+" sees every node", func() error {
			if got := len(nd.eng.Nodes()); got != n {
				return fmt.Errorf("%d nodes, want %d", got, n)
			}
			return nil
		})
	}
	return nodes
}

// runs reports whether srv runs session id (without adopting it).
func runs(srv *Server, id string) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[id] != nil
}

// TestClusterRelay: peers on three nodes see each other join, exchange
// addressed and broadcast messages, and see each other leave.
func TestClusterRelay(t *testing.T) {
	nodes := startCluster(t, redistest.Start(t), 3, Config{})
	a, b, c := dial(t, nodes[0].url, nil), dial(t, nodes[1].url, nil), dial(t, nodes[2].url, nil)
	if j := a.join("r"); len(j["peers"].([]any)) != 0 {
		t.Fatalf("first joined %v", j)
	}
	if j := b.join("r"); fmt.Sprint(j["peers"]) != fmt.Sprintf("[map[id:%s]]", a.id) {
		t.Fatalf("second joined %v", j)
	}
	if f := a.expect("peer-joined"); f["peer"].(map[string]any)["id"] != b.id {
		t.Fatalf("peer-joined %v", f)
	}
	if j := c.join("r"); len(j["peers"].([]any)) != 2 {
		t.Fatalf("third joined %v", j)
	}
	a.expect("peer-joined")
	b.expect("peer-joined")
	// Every node places the room on the same node, and says which.
	want := "https://" + engine.Place([]engine.Node{{ID: "node0"}, {ID: "node1"}, {ID: "node2"}}, "r").ID + ".example"
	for _, n := range nodes {
		if got := n.eng.RoomOwner("r"); got != want {
			t.Fatalf("%s places r on %q, want %q", n.eng.NodeID(), got, want)
		}
	}
	d := dial(t, nodes[1].url, nil)
	if j := d.join("r"); j.str("owner") != want {
		t.Fatalf("joined %v: owner, want %q", j, want)
	}
	for _, p := range []*client{a, b, c} {
		p.expect("peer-joined")
	}

	a.send(frame{"type": "offer", "to": c.id, "sdp": "v=0 a"})
	if f := c.expect("offer"); f.str("from") != a.id || f.str("sdp") != "v=0 a" {
		t.Fatalf("offer %v", f)
	}
	c.send(frame{"type": "message", "data": "to all"})
	for _, p := range []*client{a, b, d} {
		if f := p.expect("message"); f.str("from") != c.id {
			t.Fatalf("broadcast %v", f)
		}
	}
	a.send(frame{"type": "answer", "to": "nobody", "sdp": "v=0"})
	if f := a.expect("error"); f.str("code") != wire.CodeUnknownPeer {
		t.Fatalf("unknown peer: %v", f)
	}
	b.hangUp()
	for _, p := range []*client{a, c, d} {
		if f := p.expect("peer-left"); f["peer"].(map[string]any)["id"] != b.id {
			t.Fatalf("peer-left %v", f)
		}
		p.alive()
	}
	if got := nodes[0].srv.engine.Rooms(); got != 1 {
		t.Fatalf("node0 rooms %d", got)
	}
}

// TestClusterJoinOrder joins six peers, two per node, at once; each sends
// a message to every peer it learns of. Every peer must learn of every
// other exactly once, and never get a message from a peer before learning
// of it (docs/protocol.md).
func TestClusterJoinOrder(t *testing.T) {
	nodes := startCluster(t, redistest.Start(t), 3, Config{})
	const peers = 6
	clients := make([]*client, peers)
	for i := range clients {
		clients[i] = dial(t, nodes[i%3].url, nil)
	}
	errs := make(chan error, peers)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- orderedPeer(c.ws, c.id, peers-1)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// orderedPeer joins room "r", greets every peer it learns of and checks
// the order of what arrives until it knows others peers and got a
// greeting from each.
func orderedPeer(ws *websocket.Conn, self string, others int) error {
	send := func(v any) error { b, _ := json.Marshal(v); return ws.WriteMessage(websocket.TextMessage, b) }
	if err := send(frame{"type": "join", "room": "r"}); err != nil {
		return err
	}
	known, greeted := map[string]bool{}, map[string]bool{}
	learn := func(id string) error {
		if known[id] || id == self {
			return fmt.Errorf("%s learned of %s twice", self, id)
		}
		known[id] = true
		return send(frame{"type": "message", "to": id, "data": "hi"})
	}
	_ = ws.SetReadDeadline(time.Now().Add(waitFor))
	for len(known) < others || len(greeted) < others {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("%s: %v (knows %d, greeted by %d)", self, err, len(known), len(greeted))
		}
		var f struct {
			Type  string
			From  string
			Peer  wire.PeerInfo
			Peers []wire.PeerInfo
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return err
		}
		switch f.Type {
		case "joined":
			for _, p := range f.Peers {
				if err := learn(p.ID); err != nil {
					return err
				}
			}
		case "peer-joined":
			if err := learn(f.Peer.ID); err != nil {
				return err
			}
		case "message":
			if !known[f.From] || greeted[f.From] {
				return fmt.Errorf("%s: message from %s before learning of it, or twice", self, f.From)
			}
			greeted[f.From] = true
		default:
			return fmt.Errorf("%s: unexpected %s", self, b)
		}
	}
	return nil
}

// TestClusterResumeOnOtherNode drops a peer's socket on one node and
// resumes its session on another: what was sent meanwhile arrives once and
// in order, the session goes on both ways, the old node lets it go and its
// peer never hears peer-left.
func TestClusterResumeOnOtherNode(t *testing.T) {
	nodes := startCluster(t, redistest.Start(t), 3, Config{ResumeGrace: time.Minute})
	alice, bob := dial(t, nodes[0].url, nil), dial(t, nodes[1].url, nil)
	alice.join("r")
	bob.join("r")
	alice.expect("peer-joined")
	alice.send(frame{"type": "offer", "to": bob.id, "sdp": "v=0"})
	last := seqOf(bob.expect("offer"))

	bob.ws.Close() // a network drop: no close frame
	for i := 0; i < 10; i++ {
		alice.send(frame{"type": "candidate", "to": bob.id, "candidate": frame{"candidate": "c" + strconv.Itoa(i)}})
	}
	alice.alive()

	bob2 := dialRaw(t, fmt.Sprintf("%s?token=%s&after=%d", nodes[2].url, bob.welcome.str("token"), last))
	if r := bob2.expect("resumed"); r.str("session") != bob.id || int(r["last"].(float64)) != last+10 {
		t.Fatalf("resumed %v", r)
	}
	for i := 0; i < 10; i++ {
		if f := bob2.expect("candidate"); seqOf(f) != last+1+i {
			t.Fatalf("replayed %d: %v", i, f)
		}
	}
	bob2.send(frame{"type": "answer", "to": alice.id, "sdp": "v=0 answer"})
	if f := alice.expect("answer"); f.str("from") != bob.id {
		t.Fatalf("answer %v", f)
	}
	alice.send(frame{"type": "message", "to": bob.id, "data": "live"})
	if f := bob2.expect("message"); seqOf(f) != last+11 {
		t.Fatalf("live %v", f)
	}
	eventually(t, waitFor, "node1 releases the session on node2's note", func() error { // a release no client hears
		if runs(nodes[1].srv, bob.id) {
			return errors.New("node1 still runs it")
		}
		return nil
	})
	if !runs(nodes[2].srv, bob.id) {
		t.Fatal("node2 does not run the resumed session")
	}
	alice.alive() // no peer-left in between
}

// killableNode is a cluster node whose death a test can stage.
type killableNode struct {
	node
	conns  *connTracker
	client redis.UniversalClient
}

// startKillableNode serves a node until the test ends or kill.
func startKillableNode(t *testing.T, rs *redistest.Server, id string, cfg Config, rcfg redisengine.Config) *killableNode {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: rs.Addr(), MaxRetries: -1,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	t.Cleanup(func() { client.Close() })
	rcfg.NodeID = id
	eng := newTestEngine(t, client, rcfg)
	cfg.Engine = eng
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := &connTracker{Listener: ln}
	hs := &http.Server{Handler: srv.Handler()}
	served := make(chan struct{})
	go func() { defer close(served); _ = hs.Serve(conns) }()
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(waitFor)
		defer cancel()
		_ = hs.Shutdown(ctx)
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("signaling shutdown: %v", err)
		}
		<-served
	})
	return &killableNode{node: node{srv: srv, eng: eng, url: "ws://" + ln.Addr().String() + "/v1/ws"}, conns: conns, client: client}
}

// kill stages a SIGKILL: the node stops answering its clients and Redis
// at once, and runs no cleanup.
func (n *killableNode) kill() {
	n.client.Close() // first: nothing the node does from now on reaches Redis
	n.eng.Close()
	n.conns.closeAll()
}

// connTracker is a listener that can drop every connection it accepted.
type connTracker struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *connTracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *connTracker) closeAll() {
	l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}

// TestClusterNodeDeath kills a node with two clients: the one that
// resumes on another node gets everything sent meanwhile, in order, and
// its peers never hear it left; the one that never comes back ends when
// its grace is over, with peer-left, and Redis forgets it.
func TestClusterNodeDeath(t *testing.T) {
	rs := redistest.Start(t)
	cfg := Config{ResumeGrace: 1500 * time.Millisecond}
	rcfg := redisengine.Config{NodeTTL: 400 * time.Millisecond, Grace: cfg.ResumeGrace}
	n0 := startKillableNode(t, rs, "node0", cfg, rcfg)
	n1 := startKillableNode(t, rs, "node1", cfg, rcfg)
	n2 := startKillableNode(t, rs, "node2", cfg, rcfg)
	alice, bob, carol := dial(t, n0.url, nil), dial(t, n1.url, nil), dial(t, n1.url, nil)
	for _, c := range []*client{alice, bob, carol} {
		c.join("r")
	}
	alice.expect("peer-joined")
	alice.expect("peer-joined")
	bob.expect("peer-joined")
	alice.send(frame{"type": "offer", "to": bob.id, "sdp": "v=0"})
	last := seqOf(bob.expect("offer"))

	n1.kill()
	for i := 0; i < 5; i++ {
		alice.send(frame{"type": "message", "to": bob.id, "data": strconv.Itoa(i)})
	}
	alice.alive()

	admin := rs.Client(t)
	eventually(t, waitFor, "a live node declares node1 dead", func() error { // Redis state, which no event announces
		if admin.ZScore(context.Background(), "{sb}:nodes", "node1").Err() == nil {
			return errors.New("node1 still listed")
		}
		return nil
	})
	bob2 := dialRaw(t, fmt.Sprintf("%s?token=%s&after=%d", n2.url, bob.welcome.str("token"), last))
	if r := bob2.expect("resumed"); int(r["last"].(float64)) != last+5 {
		t.Fatalf("resumed %v", r)
	}
	for i := 0; i < 5; i++ {
		if f := bob2.expect("message"); f.str("data") != strconv.Itoa(i) || seqOf(f) != last+1+i {
			t.Fatalf("replayed %d: %v", i, f)
		}
	}
	if f := alice.expect("peer-left"); f["peer"].(map[string]any)["id"] != carol.id || f.str("reason") != wire.PeerLeftLost {
		t.Fatalf("peer-left %v, want carol's, lost", f)
	}
	bob2.send(frame{"type": "answer", "to": alice.id, "sdp": "v=0 answer"})
	if f := alice.expect("answer"); f.str("from") != bob.id {
		t.Fatalf("answer %v", f)
	}
	alice.alive()
	if n := admin.Exists(context.Background(), "{sb}:s:"+carol.id, "{sb}:t:"+carol.welcome.str("token"), "{sb}:ns:node1").Val(); n != 0 {
		t.Fatalf("%d keys of the dead node's ended session remain", n)
	}
	_ = n0
}

// TestClusterRedisRestart stops Redis under two nodes and starts it again,
// empty: while it is down every relay is answered with unavailable and the
// nodes are not ready; when it is back the nodes hand their clients over
// to a resume (which finds the sessions gone, as Redis kept nothing), and
// routing works again. No frame is lost without its sender being told.
func TestClusterRedisRestart(t *testing.T) {
	rs := redistest.Start(t)
	rcfg := redisengine.Config{NodeTTL: 400 * time.Millisecond}
	n0 := startKillableNode(t, rs, "node0", Config{}, rcfg)
	n1 := startKillableNode(t, rs, "node1", Config{}, rcfg)
	alice, bob := dial(t, n0.url, nil), dial(t, n1.url, nil)
	alice.join("r")
	bob.join("r")
	alice.expect("peer-joined")
	send := func(from *client, to string, i int) {
		from.send(frame{"type": "message", "to": to, "data": strconv.Itoa(i), "id": i})
	}
	for i := 0; i < 5; i++ {
		send(alice, bob.id, i)
		if f := bob.expect("message"); f.str("data") != strconv.Itoa(i) {
			t.Fatalf("message %d: %v", i, f)
		}
	}

	rs.Stop()
	for i := 5; i < 10; i++ {
		send(alice, bob.id, i)
		f := alice.expect("error")
		if f.str("code") != wire.CodeUnavailable || f["re"] != float64(i) || f["seq"] != nil {
			t.Fatalf("relay %d while redis is down: %v", i, f)
		}
	}
	if n0.srv.Ready() == nil {
		t.Fatal("node0 ready while redis is down")
	}

	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{alice, bob} {
		if ce := c.expectClose(); ce.Code != wire.CloseResume {
			t.Fatalf("close %v, want %d resume", ce, wire.CloseResume)
		}
	}
	for _, n := range []*killableNode{n0, n1} { // the close comes a moment before readiness, which has no event
		eventually(t, waitFor, "ready with redis back", n.srv.Ready)
	}
	rejoin := func(n *killableNode, old *client) *client {
		c := dialRaw(t, n.url+"?token="+old.welcome.str("token")+"&after=1")
		if f := c.expect("error"); f.str("code") != wire.CodeResumeFailed {
			t.Fatalf("resume after redis lost its data: %v", f)
		}
		c.welcome = c.expect("welcome")
		c.id = c.welcome.str("session")
		c.join("r")
		return c
	}
	alice2 := rejoin(n0, alice)
	bob2 := rejoin(n1, bob)
	alice2.expect("peer-joined")
	send(alice2, bob2.id, 10)
	if f := bob2.expect("message"); f.str("data") != "10" {
		t.Fatalf("after the restart: %v", f)
	}
}

// TestClusterHandOver stops a node gracefully: its client is told to
// resume (4000), resumes on another node with everything sent meanwhile,
// and its peer never hears it left.
func TestClusterHandOver(t *testing.T) {
	rs := redistest.Start(t)
	n0 := startKillableNode(t, rs, "node0", Config{}, redisengine.Config{})
	n1 := startKillableNode(t, rs, "node1", Config{}, redisengine.Config{})
	alice, bob := dial(t, n0.url, nil), dial(t, n1.url, nil)
	alice.join("r")
	bob.join("r")
	alice.expect("peer-joined")
	alice.send(frame{"type": "offer", "to": bob.id, "sdp": "v=0"})
	last := seqOf(bob.expect("offer"))

	ctx, cancel := contextWithTimeout(waitFor)
	defer cancel()
	if err := n1.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if ce := bob.expectClose(); ce.Code != wire.CloseResume {
		t.Fatalf("close %v, want %d resume", ce, wire.CloseResume)
	}
	for i := 0; i < 3; i++ {
		alice.send(frame{"type": "candidate", "to": bob.id, "candidate": frame{"candidate": strconv.Itoa(i)}})
	}
	alice.alive()
	bob2 := dialRaw(t, fmt.Sprintf("%s?token=%s&after=%d", n0.url, bob.welcome.str("token"), last))
	if r := bob2.expect("resumed"); int(r["last"].(float64)) != last+3 {
		t.Fatalf("resumed %v", r)
	}
	for i := 0; i < 3; i++ {
		if f := bob2.expect("candidate"); seqOf(f) != last+1+i {
			t.Fatalf("replayed %d: %v", i, f)
		}
	}
	bob2.send(frame{"type": "answer", "to": alice.id, "sdp": "v=0"})
	alice.expect("answer") // not peer-left
	if n := rs.Client(t).ZScore(context.Background(), "{sb}:nodes", "node1").Err(); n == nil {
		t.Fatal("node1 still listed after its shutdown")
	}
}

// TestClusterResumeWhileRedisStalls: a resume that reaches a node while
// Redis does not answer is refused as unavailable (try again), never
// answered resume_failed: the session lives on in Redis, and a new one in
// its place would tell its peers it left. Once Redis answers, the same
// session resumes.
func TestClusterResumeWhileRedisStalls(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs, 2, Config{ResumeGrace: time.Minute}, func(c *redisengine.Config) {
		c.Timeout, c.NodeTTL = 300*time.Millisecond, 10*time.Second
	})
	alice := dial(t, nodes[0].url, nil)
	alice.join("r")
	alice.ws.Close()
	resume := fmt.Sprintf("%s?token=%s&after=2", nodes[1].url, alice.welcome.str("token"))

	// Every client of Redis waits 1.5 s: each call of the node times out.
	if err := rs.Client(t).Do(t.Context(), "CLIENT", "PAUSE", "1500", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	_, resp, err := websocket.DefaultDialer.Dial(resume, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("resume while Redis stalls: %v, response %+v; want 503", err, resp)
	}
	if body, _ := io.ReadAll(resp.Body); !strings.Contains(string(body), wire.CodeUnavailable) {
		t.Fatalf("refusal %s, want %s", body, wire.CodeUnavailable)
	}
	// Redis answers again (CLIENT UNPAUSE, or the pause's end): the session is there.
	if err := rs.Client(t).Do(t.Context(), "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatal(err)
	}
	again := dialRaw(t, resume)
	if r := again.expect("resumed"); r.str("session") != alice.id {
		t.Fatalf("after the stall: %v, want the same session resumed", r)
	}
}
