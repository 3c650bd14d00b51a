package redis

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// Config configures the Redis engine. Zero values take the
// documented defaults.
type Config struct {
	// Client reaches Redis (standalone, Sentinel or Cluster): a list of
	// one Shards. The engine does not close it.
	Client goredis.UniversalClient
	// Shards are independent Redis deployments (servers, Sentinel sets or
	// Clusters) that rooms and the sessions in them are spread over by
	// rendezvous hashing of the room name: each carries its share, and
	// one that is out of reach stops only its rooms. Every node must list
	// the same ones in the same order (a shard is named by its place);
	// changing the list moves rooms, so change it with every node
	// stopped. Client or Shards is required. The engine does not close
	// them.
	Shards []goredis.UniversalClient
	// Partitions splits each client's keys over this many hash tags, each
	// a shard of its own, so that the rooms of a Redis Cluster spread over
	// its slots. Defaults to 16 for a *goredis.ClusterClient and 1
	// otherwise.
	Partitions int
	// Prefix starts every key. Defaults to "{sb}:": the braces put the
	// keys of a shard in one hash slot, which the scripts need on a Redis
	// Cluster; with Partitions the partition goes in the tag ("{sb.3}:").
	Prefix string
	// NodeID names this node; defaults to a random one. Two live nodes
	// must never share one.
	NodeID string
	// Limits bound each session's replay log; every node must use the
	// same. Default to engine.ReplayLimits's.
	Limits engine.ReplayLimits
	// MaxPeers caps room size. Defaults to engine.DefaultMaxPeers.
	MaxPeers int
	// Timeout bounds each Redis call. Defaults to 2 s.
	Timeout time.Duration
	// NodeTTL is how long this node stays listed without a heartbeat; it
	// beats four times per NodeTTL. When a node misses its TTL, the
	// others hand its sessions their grace period. Defaults to 10 s.
	NodeTTL time.Duration
	// Grace is how long a dead node's sessions wait for their clients to
	// resume elsewhere, as Config.ResumeGrace. Defaults to 30 s.
	Grace time.Duration
	// PublicURL is the origin clients reach this node at; other nodes
	// read it to tell clients where a room lives.
	PublicURL string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = "{sb}:"
	}
	if c.NodeID == "" {
		c.NodeID = rand.Text()
	}
	c.Limits.SetDefaults()
	if c.MaxPeers == 0 {
		c.MaxPeers = engine.DefaultMaxPeers
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	if c.NodeTTL == 0 {
		c.NodeTTL = 10 * time.Second
	}
	if c.Grace == 0 {
		c.Grace = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	switch {
	case c.Client == nil && len(c.Shards) == 0:
		return fmt.Errorf("%w: Config.Client or Config.Shards is required", errBadConfig)
	case c.Client != nil && len(c.Shards) > 0:
		return fmt.Errorf("%w: Config.Client and Config.Shards are both set", errBadConfig)
	case c.Partitions < 0 || c.Partitions > 1024:
		return fmt.Errorf("%w: Partitions %d is not between 1 and 1024", errBadConfig, c.Partitions)
	case strings.ContainsAny(c.NodeID, " \t\n"):
		return fmt.Errorf("%w: NodeID %q has white space", errBadConfig, c.NodeID)
	case c.Limits.Events < 1 || c.Limits.Bytes < 1 || c.MaxPeers < 2 || c.Timeout < 0 || c.Grace < 0:
		return fmt.Errorf("%w: replay limits, MaxPeers, Timeout and Grace must be positive", errBadConfig)
	case c.NodeTTL < 100*time.Millisecond:
		return fmt.Errorf("%w: NodeTTL %v is under 100ms", errBadConfig, c.NodeTTL)
	}
	return nil
}

// Engine is the cluster's engine.Engine: rooms, session records and
// replay logs live in Redis, so that a message reaches a peer on any node
// and a client can resume on any node. Rooms are spread over shards
// (shard.go). Each node subscribes to its own notice channel on every
// shard, through which the others wake the sessions it runs.
type Engine struct {
	cfg       Config
	shards    []*shard
	pipes     []*pipeliner // the shards' pipelines, one per client
	marks     *markBatcher
	stop      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // the notice loops, the heartbeats and the marks
	// peerLeft is the peer-left frame around a session id, for the
	// sessions of dead nodes that Redis ends itself.
	peerLeft [2][]byte
	nodes    atomic.Pointer[[]engine.Node] // live on any shard, as of its last heartbeat
	held     atomic.Int64                  // bytes in every inbox
	requests atomic.Uint64                 // forwarded by this node, for their ids
	sends    atomic.Uint64                 // sends by this node, for their ids
	// handedOver stops the heartbeats: a node that gave its sessions
	// away and left the list of nodes must not list itself again.
	handedOver atomic.Bool

	mu      sync.Mutex
	local   map[string]engine.Mailbox     // sessions this node runs, by id
	inboxes map[string]*inbox             // their inboxes
	roomOf  map[string]string             // their rooms, for those in one
	where   map[string]*shard             // their shards
	found   map[string]*shard             // shards Find saw sessions on, until Adopt
	moving  map[string]chan struct{}      // sessions moving between shards, closed when done
	waiting map[string]chan forwardAnswer // Forward calls, by request id
}

// New connects the engine: it checks Redis answers and subscribes to
// this node's notices. Close it after the servers that use it. A shard
// out of reach at the start is not fatal while another answers: its
// rooms are unavailable until its heartbeat goes through.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Engine{
		cfg:     cfg,
		stop:    make(chan struct{}),
		local:   make(map[string]engine.Mailbox),
		inboxes: make(map[string]*inbox),
		roomOf:  make(map[string]string),
		where:   make(map[string]*shard),
		found:   make(map[string]*shard),
		moving:  make(map[string]chan struct{}),
		waiting: make(map[string]chan forwardAnswer),
	}
	r.makeShards()
	r.marks = newMarkBatcher(r)
	const marker = "@id@" // JSON-encodes as itself
	left := wire.Encode(wire.PeerEvent{Type: "peer-left", Peer: wire.PeerInfo{ID: marker}, Reason: wire.PeerLeftLost})
	i := bytes.Index(left, []byte(marker))
	r.peerLeft = [2][]byte{left[:i], left[i+len(marker):]}
	var firstErr error
	reached := 0
	for _, sh := range r.shards {
		sh.subscribe(ctx)
		err := sh.resubscribe()
		if err == nil {
			err = sh.beat(true)
		}
		if err != nil {
			firstErr = cmp.Or(firstErr, fmt.Errorf("shard %s: %w", sh.name, err))
			sh.down(err)
			continue
		}
		reached++
	}
	if reached == 0 {
		_ = r.closeShards()
		for _, p := range r.pipes {
			p.close()
		}
		return nil, fmt.Errorf("%w: %w", errRedis, firstErr)
	}
	r.wg.Add(1 + 2*len(r.shards))
	for _, sh := range r.shards {
		go sh.notices()
		go sh.heartbeat()
	}
	go func() { defer r.wg.Done(); r.marks.loop(r.stop) }()
	return r, nil
}

// closeShards ends the subscriptions and pipelines.
func (r *Engine) closeShards() error {
	var err error
	for _, sh := range r.shards {
		if sh.sub != nil {
			err = cmp.Or(err, sh.sub.Close())
		}
	}
	return err
}

// HandOver implements engine.Engine.
func (r *Engine) HandOver() error {
	r.handedOver.Store(true)
	r.marks.flush() // the node that takes a session over reads them (applied)
	r.mu.Lock()
	for id := range r.local {
		r.forgetLocked(id)
	}
	r.mu.Unlock()
	var err error
	for _, sh := range r.shards {
		err = cmp.Or(err, sh.run(scriptHandOver, nil, r.cfg.Grace.Milliseconds()).Err())
	}
	return err
}

// Ready implements engine.Engine: whether any shard answered its last
// heartbeat. While one does not, joins and relays of its rooms fail with
// unavailable; the node stays ready for the others' rooms.
func (r *Engine) Ready() error {
	for _, sh := range r.shards {
		if sh.up.Load() {
			return nil
		}
	}
	return fmt.Errorf("%w: not reachable", errRedis)
}

// gatherNodes lists the nodes live on any shard that answers: every node
// beats on every shard, so a node is gone when no shard lists it.
func (r *Engine) gatherNodes() {
	seen := map[string]bool{}
	var all []engine.Node
	for _, sh := range r.shards {
		list := sh.nodes.Load()
		if list == nil || !sh.up.Load() {
			continue
		}
		for _, n := range *list {
			if !seen[n.ID] {
				seen[n.ID] = true
				all = append(all, n)
			}
		}
	}
	slices.SortFunc(all, func(a, b engine.Node) int { return strings.Compare(a.ID, b.ID) })
	r.nodes.Store(&all)
}

// RoomOwner implements engine.Engine: the public URL of the node room is
// placed on, among the live nodes as of the last heartbeats ("" if that
// node has none).
func (r *Engine) RoomOwner(room string) string {
	nodes := r.nodes.Load()
	if nodes == nil {
		return ""
	}
	return engine.Place(*nodes, room).URL
}

// roomShard is the shard room lives on.
func (r *Engine) roomShard(room string) *shard { return r.place("r:"+room, false) }

// place picks a shard for key by rendezvous hashing on the shards' names;
// among those that answer when upOnly, if any does.
func (r *Engine) place(key string, upOnly bool) *shard {
	if len(r.shards) == 1 {
		return r.shards[0]
	}
	var best *shard
	var bestScore uint64
	for _, sh := range r.shards {
		if upOnly && !sh.up.Load() {
			continue
		}
		if s := engine.Score(sh.name, key); best == nil || s > bestScore {
			best, bestScore = sh, s
		}
	}
	if best == nil {
		return r.place(key, false)
	}
	return best
}

// wakeAll wakes every session this node runs on sh (all shards for nil),
// after notices may have been lost: their inboxes forget what they knew,
// so that their channels read from Redis.
func (r *Engine) wakeAll(sh *shard) {
	r.mu.Lock()
	var all []engine.Mailbox
	for id, mb := range r.local {
		if sh == nil || r.where[id] == sh {
			all = append(all, mb)
			if in := r.inboxes[id]; in != nil {
				in.invalidate()
			}
		}
	}
	r.mu.Unlock()
	for _, mb := range all {
		mb.Wake()
	}
}

// releaseAll lets every session here on sh go; their clients resume, here
// or on another node.
func (r *Engine) releaseAll(sh *shard) {
	r.mu.Lock()
	var all []engine.Mailbox
	for id, mb := range r.local {
		if r.where[id] == sh {
			all = append(all, mb)
			r.forgetLocked(id)
		}
	}
	r.mu.Unlock()
	for _, mb := range all {
		mb.Release(wire.CodeResume)
	}
}

// Shared implements engine.Engine: any node may run a session.
func (r *Engine) Shared() bool { return true }

// Nodes lists the live nodes as of the last heartbeats, this one included.
func (r *Engine) Nodes() []engine.Node {
	if nodes := r.nodes.Load(); nodes != nil {
		return *nodes
	}
	return nil
}

// Shards is how many shards rooms are spread over.
func (r *Engine) Shards() int { return len(r.shards) }

// NodeID is this node's name in Redis.
func (r *Engine) NodeID() string { return r.cfg.NodeID }

// Close stops the notice loops and the heartbeats. Sessions still running
// are not ended, and the node stays listed until its TTL runs out.
func (r *Engine) Close() error {
	var err error
	r.closeOnce.Do(func() {
		close(r.stop)
		err = r.closeShards()
		r.wg.Wait()
		for _, p := range r.pipes {
			p.close() // after the marks' last batch
		}
	})
	return err
}

// forgetLocked stops running session id here.
func (r *Engine) forgetLocked(id string) {
	if in := r.inboxes[id]; in != nil {
		in.invalidate() // its bytes leave the node's count
	}
	delete(r.local, id)
	delete(r.inboxes, id)
	delete(r.roomOf, id)
	delete(r.where, id)
}

// inboxOf is the inbox of session id while this node runs it, or nil.
func (r *Engine) inboxOf(id string) *inbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inboxes[id]
}

// isTimeout reports a call that got no answer in time. One slow answer
// under load is no outage: refusing every join and relay until the next
// heartbeat would turn a slow Redis into an unavailable node. The
// heartbeat, which fails on timeouts too, decides when Redis is out of
// reach.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
