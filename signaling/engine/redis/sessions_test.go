package redis

import (
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
)

// TestRedisMarks: taken marks and acks wait on the node for the next
// batch of marks, and a resume drops the ones still waiting rather than
// letting them land after its untaking.
func TestRedisMarks(t *testing.T) {
	rs := redistest.Start(t)
	eng := newTestEngine(t, rs.Client(t), Config{Limits: engine.ReplayLimits{Events: 16, Bytes: 1024}})
	log := eng.Create(engine.SessionRecord{ID: "a", Token: "a.ta"})
	inRedis := func(field string) string {
		t.Helper()
		v, err := rs.Client(t).HGet(t.Context(), "{sb}:s:a", field).Result()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for range 3 {
		if _, err := log.Append([]byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	log.Taken(2)
	log.Ack(1)
	eng.marks.flush()
	if taken, first := inRedis("taken"), inRedis("first"); taken != "2" || first != "2" {
		t.Fatalf("after a batch of marks: taken %s, first kept %s; want 2, 2", taken, first)
	}
	log.Taken(3)
	if _, err := log.Resume(1); err != nil {
		t.Fatal(err)
	}
	eng.marks.flush()
	if got := inRedis("taken"); got != "1" {
		t.Fatalf("taken in Redis after Resume(1): %s, want 1", got)
	}
}
