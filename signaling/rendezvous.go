package signaling

import "hash/fnv"

// clusterNode is a live node as the heartbeat lists it.
type clusterNode struct {
	ID  string
	URL string // its -public-url; may be empty
}

// roomOwner places room on one of nodes by rendezvous hashing: each node
// scores the room and the highest score wins. Adding or removing one of N
// nodes moves only the rooms it wins or won, about 1/N of them, and every
// node computes the same owner from the same list without talking to the
// others. It returns the zero node when there is none.
func roomOwner(nodes []clusterNode, room string) clusterNode {
	var best clusterNode
	var bestScore uint64
	for _, n := range nodes {
		if s := rendezvousScore(n.ID, room); best.ID == "" || s > bestScore || s == bestScore && n.ID < best.ID {
			best, bestScore = n, s
		}
	}
	return best
}

// rendezvousScore hashes node and room together. FNV-1a alone mixes the
// last bytes poorly, so a 64-bit finalizer (splitmix64's) spreads them.
func rendezvousScore(node, room string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	h.Write([]byte{0})
	h.Write([]byte(room))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
