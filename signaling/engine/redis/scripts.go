package redis

import (
	"embed"

	goredis "github.com/redis/go-redis/v9"
)

// The Redis engine's scripts. Each runs atomically in Redis, which is what
// keeps the ordering guarantees of docs/protocol.md across nodes: a join
// appends peer-joined to every member's log and joined to the newcomer's
// in one step, exactly as the in-memory engine does under its lock.
//
// Every script takes ARGV[1] key prefix, ARGV[2] this node's id,
// ARGV[3] and ARGV[4] the replay bounds (events, bytes), ARGV[5] the
// command that publishes notes; its own arguments follow. Every script
// runs on one shard (shard.go). Keys (see docs/cluster.md), all under the
// shard's prefix:
//
//	s:<id>    hash: token, owner node, room, next seq, taken, bytes, first kept seq
//	e:<id>    list: the kept frames, seq first..next
//	r:<room>  hash: member id → PeerInfo JSON
//	ns:<node> set: the sessions a node runs
//	nodes     sorted set: live node ids, scored by when they expire (ms, Redis clock)
//	urls      hash: node id → its public URL
//	orphans   sorted set: sessions of dead nodes, scored by when their grace ends
//	gone:<node>:<ms> set: a dead node's sessions not yet in orphans
//	dying     hash: gone:… key → the dead node
//	n:<node>  pub/sub channel: notices for the sessions a node runs
//
// Every key but the pub/sub channels has an owner that deletes it: a
// session's node drops s:, e: and t: when it ends; a room's hash
// disappears with its last member; and when a node stops heartbeating,
// the first live node to notice hands its sessions to orphans, and ends
// those whose grace runs out as their own node would (peer-left, drop).
//
//go:embed lua/*.lua
var luaFiles embed.FS

// script loads lua/NAME.lua behind lua/lib.lua, the functions every
// script shares.
func script(name string) *goredis.Script {
	lib, err := luaFiles.ReadFile("lua/lib.lua")
	if err != nil {
		panic(err) // embedded: cannot be missing
	}
	body, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return goredis.NewScript(string(lib) + string(body))
}

// The scripts, one file each under lua/, where each says its arguments
// and result.
var (
	scriptAppend    = script("append")
	scriptResume    = script("resume")
	scriptRead      = script("read")
	scriptMarks     = script("marks")
	scriptFind      = script("find")
	scriptCreate    = script("create")
	scriptAdopt     = script("adopt")
	scriptDrop      = script("drop")
	scriptJoin      = script("join")
	scriptLeave     = script("leave")
	scriptSend      = script("send")
	scriptHeartbeat = script("heartbeat")
	scriptHandOver  = script("hand_over")
	scriptForward   = script("forward")
	scriptMoveOut   = script("move_out")
	scriptMoveIn    = script("move_in")
	scriptMoveDone  = script("move_done")
)
