package redis

import (
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
)

// TestRedisTakenMark: the taken mark waits on the node for the log's next
// script, and a resume in between drops it rather than letting it land
// after the resume's untaking.
func TestRedisTakenMark(t *testing.T) {
	rs := redistest.Start(t)
	eng := newTestEngine(t, rs.Client(t), Config{Limits: engine.ReplayLimits{Events: 16, Bytes: 1024}})
	log := eng.Create(engine.SessionRecord{ID: "a", Token: "ta"})
	inRedis := func() string {
		t.Helper()
		v, err := rs.Client(t).HGet(t.Context(), "{sb}:s:a", "taken").Result()
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
	if got := inRedis(); got != "0" {
		t.Fatalf("taken in Redis right after Taken(2): %s, want 0 (kept back)", got)
	}
	if _, err := log.Read(2, nil, 10); err != nil {
		t.Fatal(err)
	}
	if got := inRedis(); got != "2" {
		t.Fatalf("taken in Redis after the next read: %s, want 2", got)
	}
	log.Taken(3)
	if _, err := log.Resume(1); err != nil {
		t.Fatal(err)
	}
	if _, err := log.Read(1, nil, 10); err != nil {
		t.Fatal(err)
	}
	if got := inRedis(); got != "1" {
		t.Fatalf("taken in Redis after Resume(1): %s, want 1", got)
	}
}
