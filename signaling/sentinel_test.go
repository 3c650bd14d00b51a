package signaling

import (
	"strconv"
	"testing"
	"time"

	redisengine "github.com/switchboard-rtc/switchboard/signaling/engine/redis"
	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
)

// TestSentinel: two nodes given the -redis URL of a Sentinel find the
// master through it, and their peers join and relay as on one Redis.
func TestSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master, "sb")
	url := "redis://" + sentinel.Addr() + "?master_name=sb"
	var urls [2]string
	for i := range urls {
		client, err := redisengine.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		eng := newTestEngine(t, client, redisengine.Config{NodeID: "sentinel" + strconv.Itoa(i), NodeTTL: 400 * time.Millisecond})
		_, urls[i] = startServer(t, Config{Engine: eng})
	}
	a, b := dial(t, urls[0], nil), dial(t, urls[1], nil)
	a.join("r")
	b.join("r")
	if f := a.expect("peer-joined"); f["peer"].(map[string]any)["id"] != b.id {
		t.Fatalf("peer-joined %v", f)
	}
	a.send(frame{"type": "offer", "to": b.id, "sdp": "v=0 a"})
	if f := b.expect("offer"); f.str("from") != a.id || f.str("sdp") != "v=0 a" {
		t.Fatalf("offer %v", f)
	}
	// The sessions live on the master the Sentinel names.
	keys, err := master.Client(t).Keys(t.Context(), "{sb}:s:*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("session keys on the master: %v %v", keys, err)
	}
}
