package signaling

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisConfig configures the Redis engine. Zero values take the
// documented defaults.
type RedisConfig struct {
	// Client reaches Redis (standalone, Sentinel or Cluster); required.
	// The engine does not close it.
	Client redis.UniversalClient
	// Prefix starts every key. Defaults to "{sb}:": the braces put every
	// key in one hash slot, which the scripts need on a Redis Cluster.
	Prefix string
	// NodeID names this node; defaults to a random one. Two live nodes
	// must never share one.
	NodeID string
	// Limits bound each session's replay buffer, as Config.ReplayEvents
	// and Config.ReplayBytes do; every node must use the same. Default to
	// 1024 events and 1 MiB.
	Limits ReplayLimits
	// MaxPeers caps room size, as Config.MaxPeersPerRoom. Defaults to 16.
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

func (c *RedisConfig) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = "{sb}:"
	}
	if c.NodeID == "" {
		c.NodeID = rand.Text()
	}
	if c.Limits.Events == 0 {
		c.Limits.Events = 1024
	}
	if c.Limits.Bytes == 0 {
		c.Limits.Bytes = 1 << 20
	}
	if c.MaxPeers == 0 {
		c.MaxPeers = 16
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

func (c *RedisConfig) validate() error {
	switch {
	case c.Client == nil:
		return fmt.Errorf("%w: RedisConfig.Client is required", errBadConfig)
	case strings.ContainsAny(c.NodeID, " \t\n"):
		return fmt.Errorf("%w: NodeID %q has white space", errBadConfig, c.NodeID)
	case c.Limits.Events < 1 || c.Limits.Bytes < 1 || c.MaxPeers < 2 || c.Timeout < 0 || c.Grace < 0:
		return fmt.Errorf("%w: replay limits, MaxPeers, Timeout and Grace must be positive", errBadConfig)
	case c.NodeTTL < 100*time.Millisecond:
		return fmt.Errorf("%w: NodeTTL %v is under 100ms", errBadConfig, c.NodeTTL)
	}
	return nil
}

// Redis is the cluster engine: a Router and a Store whose rooms, session
// records and replay buffers live in Redis, so that a message reaches a
// peer on any node and a client can resume on any node. Each node
// subscribes to its own notice channel, through which the others wake
// the sessions it runs.
type Redis struct {
	cfg       RedisConfig
	rdb       redis.UniversalClient
	args      []any // the scripts' first four arguments
	sub       *redis.PubSub
	stop      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // the notice loop and the heartbeat
	// peerLeft is the peer-left frame around a session id, for the
	// sessions of dead nodes that Redis ends itself.
	peerLeft [2][]byte
	up       atomic.Bool // the last heartbeat went through

	mu     sync.Mutex
	local  map[string]roamer // sessions this node runs, by id
	roomOf map[string]string // their rooms, for those in one
}

// roamer is a session as the Redis engine sees it: the engine appends to
// its log in Redis and then tells it.
type roamer interface {
	Mailbox
	// wakeChannel says events were appended to the session's log.
	wakeChannel()
	// overflow says the log was full: the session ends as a slow consumer.
	overflow()
	// release says another node runs the session now, or may: this node
	// lets it go without leaving its room or dropping its log, and closes
	// its channel with reason (replaced or resume).
	release(reason string)
}

// sharedStore is a Store whose sessions any node may run.
type sharedStore interface {
	Store
	// adopt makes this node run the session rec names, taking it from the
	// node that ran it, and returns its room ("" for none). It fails with
	// ErrReplayGap when the session is gone.
	adopt(rec SessionRecord, mb roamer) (room string, err error)
}

// NewRedis connects the engine: it checks Redis answers and subscribes to
// this node's notices. Close it after the servers that use it.
func NewRedis(ctx context.Context, cfg RedisConfig) (*Redis, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Redis{
		cfg:    cfg,
		rdb:    cfg.Client,
		args:   []any{cfg.Prefix, cfg.NodeID, cfg.Limits.Events, cfg.Limits.Bytes},
		stop:   make(chan struct{}),
		local:  make(map[string]roamer),
		roomOf: make(map[string]string),
	}
	r.sub = r.rdb.Subscribe(ctx, cfg.Prefix+"n:"+cfg.NodeID)
	if _, err := r.sub.Receive(ctx); err != nil { // the subscription's confirmation
		_ = r.sub.Close()
		return nil, fmt.Errorf("%w: %w", errRedis, err)
	}
	const marker = "@id@" // JSON-encodes as itself
	left := encode(peerFrame{Type: "peer-left", Peer: PeerInfo{ID: marker}})
	i := bytes.Index(left, []byte(marker))
	r.peerLeft = [2][]byte{left[:i], left[i+len(marker):]}
	if err := r.beat(true); err != nil {
		_ = r.sub.Close()
		return nil, err
	}
	r.wg.Add(2)
	go r.notices()
	go r.heartbeat()
	return r, nil
}

// Ready reports whether Redis answered the last heartbeat; while it does
// not, joins and relays fail with unavailable.
func (r *Redis) Ready() error {
	if !r.up.Load() {
		return fmt.Errorf("%w: not reachable", errRedis)
	}
	return nil
}

// heartbeat keeps this node listed and cleans up after dead ones.
func (r *Redis) heartbeat() {
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
func (r *Redis) beat(first bool) error {
	res, err := r.run(scriptHeartbeat, nil, r.cfg.NodeTTL.Milliseconds(), r.cfg.Grace.Milliseconds(),
		r.cfg.PublicURL, r.peerLeft[0], r.peerLeft[1]).Slice()
	if err != nil {
		if r.up.Swap(false) || first {
			r.cfg.Logger.Error("redis unreachable: refusing joins and relays until it is back", "err", err)
		}
		return fmt.Errorf("%w: %w", errRedis, err)
	}
	if !r.up.Swap(true) && !first {
		r.cfg.Logger.Info("redis reachable again")
		r.wakeAll()
	}
	if listed, _ := res[0].(int64); listed == 0 && !first {
		// Declared dead (a pause past NodeTTL) or Redis lost its data:
		// the sessions here are no longer this node's.
		r.cfg.Logger.Warn("this node was dropped from redis: its clients must resume")
		r.releaseAll()
	}
	r.dispatchResult(res[1:])
	return nil
}

// wakeAll wakes every session this node runs.
func (r *Redis) wakeAll() {
	r.mu.Lock()
	all := make([]roamer, 0, len(r.local))
	for _, mb := range r.local {
		all = append(all, mb)
	}
	r.mu.Unlock()
	for _, mb := range all {
		mb.wakeChannel()
	}
}

// releaseAll lets every session here go; their clients resume, here or
// on another node.
func (r *Redis) releaseAll() {
	r.mu.Lock()
	all := make([]roamer, 0, len(r.local))
	for id, mb := range r.local {
		all = append(all, mb)
		r.forgetLocked(id)
	}
	r.mu.Unlock()
	for _, mb := range all {
		mb.release(CodeResume)
	}
}

// NodeID is this node's name in Redis.
func (r *Redis) NodeID() string { return r.cfg.NodeID }

// Close stops the notice loop and the heartbeat. Sessions still running
// are not ended, and the node stays listed until its TTL runs out.
func (r *Redis) Close() error {
	var err error
	r.closeOnce.Do(func() {
		close(r.stop)
		err = r.sub.Close()
		r.wg.Wait()
	})
	return err
}

// notices receives what other nodes tell this one about its sessions.
func (r *Redis) notices() {
	defer r.wg.Done()
	for {
		msg, err := r.sub.ReceiveMessage(context.Background())
		if errors.Is(err, redis.ErrClosed) {
			return
		}
		if err != nil {
			select { // go-redis reconnects on the next call; not in a busy loop
			case <-r.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		r.dispatch(strings.Fields(msg.Payload))
	}
}

// dispatch acts on notes: a kind letter, then a session id.
func (r *Redis) dispatch(notes []string) {
	for _, n := range notes {
		if len(n) < 2 {
			continue
		}
		kind, id := n[0], n[1:]
		r.mu.Lock()
		mb := r.local[id]
		if kind == 'm' && mb != nil {
			r.forgetLocked(id)
		}
		r.mu.Unlock()
		if mb == nil {
			continue
		}
		switch kind {
		case 'w':
			mb.wakeChannel()
		case 'f':
			mb.overflow()
		case 'm':
			mb.release(CodeReplaced)
		}
	}
}

// forgetLocked stops running session id here.
func (r *Redis) forgetLocked(id string) {
	delete(r.local, id)
	delete(r.roomOf, id)
}

// ctx bounds one Redis call.
func (r *Redis) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), r.cfg.Timeout)
}

// run runs script with the common arguments first.
func (r *Redis) run(script *redis.Script, keys []string, args ...any) *redis.Cmd {
	ctx, cancel := r.ctx()
	defer cancel()
	all := make([]any, 0, len(r.args)+len(args))
	all = append(append(all, r.args...), args...)
	if keys == nil {
		keys = []string{r.cfg.Prefix} // routes the call to the prefix's slot
	}
	return script.Run(ctx, r.rdb, keys, all...)
}

// ParseRedisURL makes a client from a URL: redis:// or rediss:// for one
// server (or a Sentinel set when the query names master_name), and
// redis+cluster:// or rediss+cluster:// for a Cluster, more nodes given
// as addr= query parameters.
func ParseRedisURL(raw string) (redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadConfig, err)
	}
	off := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Query().Has("master_name") {
			opt, err := redis.ParseFailoverURL(raw)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", errBadConfig, err)
			}
			return redis.NewFailoverClient(opt), nil
		}
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadConfig, err)
		}
		opt.MaintNotificationsConfig = off
		return redis.NewClient(opt), nil
	case "redis+cluster", "rediss+cluster":
		u.Scheme = strings.TrimSuffix(u.Scheme, "+cluster")
		opt, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadConfig, err)
		}
		opt.MaintNotificationsConfig = off
		return redis.NewClusterClient(opt), nil
	}
	return nil, fmt.Errorf("%w: redis URL scheme %q is not redis, rediss, redis+cluster or rediss+cluster", errBadConfig, u.Scheme)
}
