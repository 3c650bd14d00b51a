package engine

import (
	"fmt"
	"math"
	"testing"
)

// TestRendezvousRebalancing measures how many of 20,000 rooms move when one
// node joins or leaves a cluster of N: about 1/(N+1) and 1/N, and only
// to the new node or from the departed one. Placement is also even.
func TestRendezvousRebalancing(t *testing.T) {
	const rooms = 20000
	for _, n := range []int{2, 3, 5, 10} {
		nodes := make([]Node, n)
		for i := range nodes {
			nodes[i] = Node{ID: fmt.Sprintf("node-%d", i)}
		}
		grown := append(append([]Node{}, nodes...), Node{ID: "node-new"})
		shrunk := nodes[1:]
		var moved, left int
		load := map[string]int{}
		for r := 0; r < rooms; r++ {
			room := fmt.Sprintf("room-%d", r)
			before := Place(nodes, room).ID
			load[before]++
			if after := Place(grown, room).ID; after != before {
				moved++
				if after != "node-new" {
					t.Fatalf("n=%d: %s moved from %s to %s, not to the new node", n, room, before, after)
				}
			}
			if after := Place(shrunk, room).ID; after != before {
				left++
				if before != nodes[0].ID {
					t.Fatalf("n=%d: %s moved off %s, which stayed", n, room, before)
				}
			}
		}
		addShare, removeShare := float64(moved)/rooms, float64(left)/rooms
		t.Logf("N=%d: adding a node moved %.3f of rooms (ideal %.3f), removing one %.3f (ideal %.3f)",
			n, addShare, 1/float64(n+1), removeShare, 1/float64(n))
		if math.Abs(addShare-1/float64(n+1)) > 0.2/float64(n+1) || math.Abs(removeShare-1/float64(n)) > 0.2/float64(n) {
			t.Errorf("N=%d: moved %.3f on add, %.3f on remove: not about 1/N", n, addShare, removeShare)
		}
		for id, l := range load {
			if share := float64(l) / rooms; math.Abs(share-1/float64(n)) > 0.2/float64(n) {
				t.Errorf("N=%d: %s owns %.3f of rooms", n, id, share)
			}
		}
	}
}

func TestRoomOwnerEmpty(t *testing.T) {
	if got := Place(nil, "r"); got.ID != "" {
		t.Fatalf("owner among no nodes: %+v", got)
	}
}
