package engine

import "hash/fnv"

// Node is a member of a cluster: a signaling node as its heartbeat lists
// it, or a TURN host of a pool.
type Node struct {
	ID  string
	URL string // where clients reach it; may be empty
}

// Place puts room on one of nodes by rendezvous hashing: each node
// scores the room and the highest score wins. Adding or removing one of N
// nodes moves only the rooms it wins or won, about 1/N of them, and every
// node computes the same owner from the same list without talking to the
// others. It returns the zero node when there is none.
func Place(nodes []Node, room string) Node {
	var best Node
	var bestScore uint64
	for _, n := range nodes {
		if s := Score(n.ID, room); best.ID == "" || s > bestScore || s == bestScore && n.ID < best.ID {
			best, bestScore = n, s
		}
	}
	return best
}

// Score is node's rendezvous score for key: the node with the highest
// wins it. FNV-1a alone mixes the last bytes poorly, so a 64-bit
// finalizer (splitmix64's) spreads them.
func Score(node, key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	h.Write([]byte{0})
	h.Write([]byte(key))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
