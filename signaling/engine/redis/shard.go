package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/switchboard-rtc/switchboard/signaling/engine"
)

// shard is one place where rooms and the sessions in them live: an
// independent Redis server (or Sentinel set), or one hash-tag partition
// of a Redis Cluster. Every script touches one shard only; rooms are
// placed on shards by rendezvous hashing of the room name, and a session
// lives on its room's shard (move.go moves it when it joins a room
// elsewhere). Each shard keeps its own list of live nodes and hands the
// sessions of dead ones to orphans, so that a shard that is out of reach
// stops only its own rooms.
type shard struct {
	r      *Engine
	name   string // its name in placement: the same on every node
	rdb    goredis.UniversalClient
	prefix string
	pub    string // the command that publishes notes: PUBLISH or SPUBLISH
	args   []any  // the scripts' first five arguments
	pipe   *pipeliner
	sub    *goredis.PubSub

	up     atomic.Bool                   // the last heartbeat went through
	resync atomic.Bool                   // notes may have been lost: wake its sessions
	nodes  atomic.Pointer[[]engine.Node] // live, as of the last heartbeat

	mu      sync.Mutex
	pending []func() error // cleanups waiting for the shard to be back
}

// makeShards makes the engine's shards from cfg: Partitions per client, with
// the partition in the hash tag of the prefix.
func (r *Engine) makeShards() {
	clients := r.cfg.Shards
	if len(clients) == 0 {
		clients = []goredis.UniversalClient{r.cfg.Client}
	}
	for i, c := range clients {
		_, cluster := c.(*goredis.ClusterClient)
		parts := r.cfg.Partitions
		if parts == 0 {
			parts = 1
			if cluster {
				parts = defaultPartitions
			}
		}
		pub := "PUBLISH"
		if cluster {
			pub = "SPUBLISH"
		}
		pipe := newPipeliner(c, r.cfg.Timeout) // one per client: a cluster's pipelines split by node
		r.pipes = append(r.pipes, pipe)
		for j := range parts {
			prefix := r.cfg.Prefix
			if parts > 1 {
				prefix = partitionPrefix(prefix, j)
			}
			sh := &shard{r: r, name: strconv.Itoa(i) + "/" + strconv.Itoa(j), rdb: c, prefix: prefix, pub: pub, pipe: pipe}
			sh.args = []any{prefix, r.cfg.NodeID, r.cfg.Limits.Events, r.cfg.Limits.Bytes, pub}
			r.shards = append(r.shards, sh)
		}
	}
}

// defaultPartitions spreads a Redis Cluster's rooms over this many hash
// tags: enough for rooms to spread evenly over a few masters, few enough
// that a node's heartbeats and subscriptions (one per partition) stay
// cheap.
const defaultPartitions = 16

// partitionPrefix puts partition j in prefix's hash tag: "{sb}:" becomes
// "{sb.3}:"; a prefix without one gets it as a tag of its own.
func partitionPrefix(prefix string, j int) string {
	if open := strings.IndexByte(prefix, '{'); open >= 0 {
		if end := strings.IndexByte(prefix[open:], '}'); end > 0 {
			at := open + end
			return prefix[:at] + "." + strconv.Itoa(j) + prefix[at:]
		}
	}
	return prefix + "{" + strconv.Itoa(j) + "}:"
}

// subscribe subscribes the shard's notice channel for this node; the
// answer is not awaited (resubscribe checks it).
func (sh *shard) subscribe(ctx context.Context) {
	ch := sh.prefix + "n:" + sh.r.cfg.NodeID
	if sh.pub == "SPUBLISH" {
		sh.sub = sh.rdb.SSubscribe(ctx, ch)
	} else {
		sh.sub = sh.rdb.Subscribe(ctx, ch)
	}
}

// publish sends one message on node's notice channel of this shard.
func (sh *shard) publish(node, msg string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	ch := sh.prefix + "n:" + node
	if sh.pub == "SPUBLISH" {
		return sh.rdb.SPublish(ctx, ch, msg).Err()
	}
	return sh.rdb.Publish(ctx, ch, msg).Err()
}

// ctx bounds one Redis call.
func (sh *shard) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), sh.r.cfg.Timeout)
}

// run runs script on this shard with the common arguments first. While
// the shard is known to be down it fails at once: the heartbeat finds out
// when it is back.
func (sh *shard) run(script *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	if !sh.up.Load() && script != scriptHeartbeat {
		cmd := goredis.NewCmd(context.Background())
		cmd.SetErr(errRedisDown)
		return cmd
	}
	all := make([]any, 0, len(sh.args)+len(args))
	all = append(append(all, sh.args...), args...)
	if keys == nil {
		keys = []string{sh.prefix} // routes the call to the prefix's slot
	}
	var cmd *goredis.Cmd
	if script == scriptHeartbeat {
		// Never queued behind relays: its timing is this node's liveness.
		ctx, cancel := sh.ctx()
		cmd = script.Run(ctx, sh.rdb, keys, all...)
		cancel()
	} else {
		cmd = sh.pipe.run(script, keys, all)
	}
	if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) && script != scriptHeartbeat && !isTimeout(err) {
		sh.down(err)
	}
	return cmd
}

// down notes that the shard failed a call, logging it once per outage.
func (sh *shard) down(err error) {
	if sh.up.Swap(false) {
		sh.r.cfg.Logger.Error("redis unreachable: refusing joins and relays of its rooms until it is back",
			"shard", sh.name, "err", err)
	}
}

// later keeps a cleanup (a leave, a drop) that the shard did not take, to
// run when it is back; past maxLater they are given up (logged): the
// sessions stay in Redis until this node's sessions are next orphaned.
func (sh *shard) later(what string, f func() error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.pending) >= maxLater {
		sh.r.cfg.Logger.Warn("redis cleanup given up: too many waiting", "what", what, "shard", sh.name)
		return
	}
	sh.pending = append(sh.pending, f)
}

// maxLater bounds the cleanups kept through an outage, per shard.
const maxLater = 100_000

// runLater runs the cleanups kept through an outage, in order, until one
// fails again.
func (sh *shard) runLater() {
	sh.mu.Lock()
	todo := sh.pending
	sh.pending = nil
	sh.mu.Unlock()
	for i, f := range todo {
		if f() != nil {
			sh.mu.Lock()
			sh.pending = append(todo[i:], sh.pending...)
			sh.mu.Unlock()
			return
		}
	}
}

// heartbeat keeps this node listed on the shard and cleans up after dead
// ones.
func (sh *shard) heartbeat() {
	defer sh.r.wg.Done()
	tick := time.NewTicker(sh.r.cfg.NodeTTL / 4)
	defer tick.Stop()
	for {
		select {
		case <-sh.r.stop:
			return
		case <-tick.C:
			if sh.r.handedOver.Load() {
				return
			}
			_ = sh.beat(false)
		}
	}
}

// beat runs one heartbeat. Changes of the shard's reachability are logged
// once each; when it is back, every session on it here is woken, since
// notices published meanwhile are lost.
func (sh *shard) beat(first bool) error {
	r := sh.r
	res, err := sh.run(scriptHeartbeat, nil, r.cfg.NodeTTL.Milliseconds(), r.cfg.Grace.Milliseconds(),
		r.cfg.PublicURL, r.peerLeft[0], r.peerLeft[1]).Slice()
	if err != nil {
		sh.down(err)
		return fmt.Errorf("%w: %w", errRedis, err)
	}
	if listed, _ := res[0].(int64); listed == 0 && !first {
		// Declared dead (a pause past NodeTTL) or Redis lost its data:
		// the sessions here are no longer this node's.
		r.cfg.Logger.Warn("this node was dropped from redis: its clients must resume", "shard", sh.name)
		r.releaseAll(sh)
	}
	if !sh.up.Load() && !first {
		// Subscribed again before anyone is told the shard is back: notes
		// published before that would be lost.
		if err := sh.resubscribe(); err != nil {
			return fmt.Errorf("%w: %w", errRedis, err)
		}
		sh.up.Store(true)
		r.cfg.Logger.Info("redis reachable again", "shard", sh.name)
		sh.runLater()
		r.marks.retry()
		sh.resync.Store(true)
	}
	sh.up.Store(true)
	if sh.resync.Swap(false) {
		r.wakeAll(sh)
	}
	if list, ok := res[1].([]any); ok {
		nodes := make([]engine.Node, 0, len(list)/2)
		for i := 0; i+1 < len(list); i += 2 {
			id, _ := list[i].(string)
			url, _ := list[i+1].(string)
			nodes = append(nodes, engine.Node{ID: id, URL: url})
		}
		sh.nodes.Store(&nodes)
		r.gatherNodes()
	}
	r.dispatchResult(sh, res[2])
	return nil
}

// resubscribe makes sure this node's notice channel is subscribed: go-redis
// subscribes again on a new connection, which a PING makes if need be.
func (sh *shard) resubscribe() error {
	ctx, cancel := sh.ctx()
	defer cancel()
	return sh.sub.Ping(ctx)
}

// notices receives what other nodes tell this one about its sessions on
// the shard.
func (sh *shard) notices() {
	defer sh.r.wg.Done()
	notes := noteReader{r: sh.r, sh: sh}
	for {
		msg, err := sh.sub.ReceiveMessage(context.Background())
		if errors.Is(err, goredis.ErrClosed) {
			return
		}
		if err != nil {
			select { // not in a busy loop
			case <-sh.r.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			notes.pending = nil // its body may be lost with the connection
			if sh.resubscribe() == nil {
				sh.resync.Store(true) // the next beat wakes everyone: notes may have been lost
			}
			continue
		}
		notes.message(msg.Payload)
	}
}

func (sh *shard) roomKey(room string) string { return sh.prefix + "r:" + room }
