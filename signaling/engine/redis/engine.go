package redis

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	// Client reaches Redis (standalone, Sentinel or Cluster); required.
	// The engine does not close it.
	Client goredis.UniversalClient
	// Prefix starts every key. Defaults to "{sb}:": the braces put every
	// key in one hash slot, which the scripts need on a Redis Cluster.
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
	case c.Client == nil:
		return fmt.Errorf("%w: Config.Client is required", errBadConfig)
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
// replay logs live in Redis, so that a message reaches a
// peer on any node and a client can resume on any node. Each node
// subscribes to its own notice channel, through which the others wake
// the sessions it runs.
type Engine struct {
	cfg       Config
	rdb       goredis.UniversalClient
	args      []any // the scripts' first four arguments
	sub       *goredis.PubSub
	pipe      *pipeliner
	marks     *markBatcher
	stop      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // the notice loop, the heartbeat and the marks
	// peerLeft is the peer-left frame around a session id, for the
	// sessions of dead nodes that Redis ends itself.
	peerLeft [2][]byte
	up       atomic.Bool                   // the last heartbeat went through
	resync   atomic.Bool                   // notes may have been lost: wake every session
	nodes    atomic.Pointer[[]engine.Node] // live, as of the last heartbeat
	held     atomic.Int64                  // bytes in every inbox
	requests atomic.Uint64                 // forwarded by this node, for their ids
	sends    atomic.Uint64                 // sends by this node, for their ids

	mu      sync.Mutex
	local   map[string]engine.Mailbox     // sessions this node runs, by id
	inboxes map[string]*inbox             // their inboxes
	roomOf  map[string]string             // their rooms, for those in one
	pending []func() error                // cleanups waiting for Redis to be back
	waiting map[string]chan forwardAnswer // Forward calls, by request id
}

// New connects the engine: it checks Redis answers and subscribes to
// this node's notices. Close it after the servers that use it.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Engine{
		cfg:     cfg,
		rdb:     cfg.Client,
		args:    []any{cfg.Prefix, cfg.NodeID, cfg.Limits.Events, cfg.Limits.Bytes},
		pipe:    newPipeliner(cfg.Client, cfg.Timeout),
		stop:    make(chan struct{}),
		local:   make(map[string]engine.Mailbox),
		inboxes: make(map[string]*inbox),
		roomOf:  make(map[string]string),
		waiting: make(map[string]chan forwardAnswer),
	}
	r.marks = newMarkBatcher(r)
	r.sub = r.rdb.Subscribe(ctx, cfg.Prefix+"n:"+cfg.NodeID)
	if _, err := r.sub.Receive(ctx); err != nil { // the subscription's confirmation
		_ = r.sub.Close()
		r.pipe.close()
		return nil, fmt.Errorf("%w: %w", errRedis, err)
	}
	const marker = "@id@" // JSON-encodes as itself
	left := wire.Encode(wire.PeerEvent{Type: "peer-left", Peer: wire.PeerInfo{ID: marker}})
	i := bytes.Index(left, []byte(marker))
	r.peerLeft = [2][]byte{left[:i], left[i+len(marker):]}
	if err := r.beat(true); err != nil {
		_ = r.sub.Close()
		r.pipe.close()
		return nil, err
	}
	r.wg.Add(3)
	go r.notices()
	go r.heartbeat()
	go func() { defer r.wg.Done(); r.marks.loop(r.stop) }()
	return r, nil
}

// HandOver implements engine.Engine.
func (r *Engine) HandOver() error {
	r.mu.Lock()
	for id := range r.local {
		r.forgetLocked(id)
	}
	r.mu.Unlock()
	return r.run(scriptHandOver, nil, r.cfg.Grace.Milliseconds()).Err()
}

// Ready implements engine.Engine: whether Redis answered the last
// heartbeat; while it does not, joins and relays fail with unavailable.
func (r *Engine) Ready() error {
	if !r.up.Load() {
		return fmt.Errorf("%w: not reachable", errRedis)
	}
	return nil
}

// heartbeat keeps this node listed and cleans up after dead ones.
func (r *Engine) heartbeat() {
	defer r.wg.Done()
	tick := time.NewTicker(r.cfg.NodeTTL / 4)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			_ = r.beat(false)
		}
	}
}

// beat runs one heartbeat. Changes of Redis's reachability are logged
// once each; when Redis is back, every session here is woken, since
// notices published meanwhile are lost.
func (r *Engine) beat(first bool) error {
	res, err := r.run(scriptHeartbeat, nil, r.cfg.NodeTTL.Milliseconds(), r.cfg.Grace.Milliseconds(),
		r.cfg.PublicURL, r.peerLeft[0], r.peerLeft[1]).Slice()
	if err != nil {
		r.down(err)
		return fmt.Errorf("%w: %w", errRedis, err)
	}
	if listed, _ := res[0].(int64); listed == 0 && !first {
		// Declared dead (a pause past NodeTTL) or Redis lost its data:
		// the sessions here are no longer this node's.
		r.cfg.Logger.Warn("this node was dropped from redis: its clients must resume")
		r.releaseAll()
	}
	if !r.up.Load() && !first {
		// Subscribed again before anyone is told Redis is back: notes
		// published before that would be lost.
		if err := r.resubscribe(); err != nil {
			return fmt.Errorf("%w: %w", errRedis, err)
		}
		r.up.Store(true)
		r.cfg.Logger.Info("redis reachable again")
		r.runLater()
		r.marks.retry()
		r.resync.Store(true)
	}
	r.up.Store(true)
	if r.resync.Swap(false) {
		r.wakeAll()
	}
	if list, ok := res[1].([]any); ok {
		nodes := make([]engine.Node, 0, len(list)/2)
		for i := 0; i+1 < len(list); i += 2 {
			id, _ := list[i].(string)
			url, _ := list[i+1].(string)
			nodes = append(nodes, engine.Node{ID: id, URL: url})
		}
		r.nodes.Store(&nodes)
	}
	r.dispatchResult(res[2])
	return nil
}

// RoomOwner implements engine.Engine: the public URL of the node room is
// placed on, among the live nodes as of the last heartbeat ("" if that
// node has none).
func (r *Engine) RoomOwner(room string) string {
	nodes := r.nodes.Load()
	if nodes == nil {
		return ""
	}
	return engine.Place(*nodes, room).URL
}

// resubscribe makes sure this node's notice channel is subscribed: go-redis
// subscribes again on a new connection, which a PING makes if need be.
func (r *Engine) resubscribe() error {
	ctx, cancel := r.ctx()
	defer cancel()
	return r.sub.Ping(ctx)
}

// wakeAll wakes every session this node runs, after notices may have
// been lost: their inboxes forget what they knew, so that their channels
// read from Redis.
func (r *Engine) wakeAll() {
	r.mu.Lock()
	all := make([]engine.Mailbox, 0, len(r.local))
	for _, mb := range r.local {
		all = append(all, mb)
	}
	for _, in := range r.inboxes {
		in.invalidate()
	}
	r.mu.Unlock()
	for _, mb := range all {
		mb.Wake()
	}
}

// releaseAll lets every session here go; their clients resume, here or
// on another node.
func (r *Engine) releaseAll() {
	r.mu.Lock()
	all := make([]engine.Mailbox, 0, len(r.local))
	for id, mb := range r.local {
		all = append(all, mb)
		r.forgetLocked(id)
	}
	r.mu.Unlock()
	for _, mb := range all {
		mb.Release(wire.CodeResume)
	}
}

// Shared implements engine.Engine: any node may run a session.
func (r *Engine) Shared() bool { return true }

// Nodes lists the live nodes as of the last heartbeat, this one included.
func (r *Engine) Nodes() []engine.Node {
	if nodes := r.nodes.Load(); nodes != nil {
		return *nodes
	}
	return nil
}

// NodeID is this node's name in Redis.
func (r *Engine) NodeID() string { return r.cfg.NodeID }

// Close stops the notice loop and the heartbeat. Sessions still running
// are not ended, and the node stays listed until its TTL runs out.
func (r *Engine) Close() error {
	var err error
	r.closeOnce.Do(func() {
		close(r.stop)
		err = r.sub.Close()
		r.wg.Wait()
		r.pipe.close() // after the marks' last batch
	})
	return err
}

// notices receives what other nodes tell this one about its sessions.
func (r *Engine) notices() {
	defer r.wg.Done()
	notes := noteReader{r: r}
	for {
		msg, err := r.sub.ReceiveMessage(context.Background())
		if errors.Is(err, goredis.ErrClosed) {
			return
		}
		if err != nil {
			select { // not in a busy loop
			case <-r.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			notes.pending = nil // its body may be lost with the connection
			if r.resubscribe() == nil {
				r.resync.Store(true) // the next beat wakes everyone: notes may have been lost
			}
			continue
		}
		notes.message(msg.Payload)
	}
}

// forgetLocked stops running session id here.
func (r *Engine) forgetLocked(id string) {
	if in := r.inboxes[id]; in != nil {
		in.invalidate() // its bytes leave the node's count
	}
	delete(r.local, id)
	delete(r.inboxes, id)
	delete(r.roomOf, id)
}

// inboxOf is the inbox of session id while this node runs it, or nil.
func (r *Engine) inboxOf(id string) *inbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inboxes[id]
}

// ctx bounds one Redis call.
func (r *Engine) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), r.cfg.Timeout)
}

// run runs script with the common arguments first. While Redis is known
// to be down it fails at once: the heartbeat finds out when it is back.
func (r *Engine) run(script *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	if !r.up.Load() && script != scriptHeartbeat {
		cmd := goredis.NewCmd(context.Background())
		cmd.SetErr(errRedisDown)
		return cmd
	}
	all := make([]any, 0, len(r.args)+len(args))
	all = append(append(all, r.args...), args...)
	if keys == nil {
		keys = []string{r.cfg.Prefix} // routes the call to the prefix's slot
	}
	var cmd *goredis.Cmd
	if script == scriptHeartbeat {
		// Never queued behind relays: its timing is this node's liveness.
		ctx, cancel := r.ctx()
		cmd = script.Run(ctx, r.rdb, keys, all...)
		cancel()
	} else {
		cmd = r.pipe.run(script, keys, all)
	}
	if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) && script != scriptHeartbeat && !isTimeout(err) {
		r.down(err)
	}
	return cmd
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

// down notes that Redis failed a call, logging it once per outage.
func (r *Engine) down(err error) {
	if r.up.Swap(false) {
		r.cfg.Logger.Error("redis unreachable: refusing joins and relays until it is back", "err", err)
	}
}

// later keeps a cleanup (a leave, a drop) that Redis did not take, to run
// when it is back; past maxLater they are given up (logged): the sessions
// stay in Redis until this node's sessions are next orphaned.
func (r *Engine) later(what string, f func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) >= maxLater {
		r.cfg.Logger.Warn("redis cleanup given up: too many waiting", "what", what)
		return
	}
	r.pending = append(r.pending, f)
}

// maxLater bounds the cleanups kept through an outage.
const maxLater = 100_000

// runLater runs the cleanups kept through an outage, in order, until one
// fails again.
func (r *Engine) runLater() {
	r.mu.Lock()
	todo := r.pending
	r.pending = nil
	r.mu.Unlock()
	for i, f := range todo {
		if f() != nil {
			r.mu.Lock()
			r.pending = append(todo[i:], r.pending...)
			r.mu.Unlock()
			return
		}
	}
}
