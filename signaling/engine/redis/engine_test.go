package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/engine/enginetest"
	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestContract runs the engine contract against the Redis engine.
func TestContract(t *testing.T) {
	rs := redistest.Start(t)
	client := rs.Client(t)
	var n atomic.Int32
	enginetest.Run(t, func(t *testing.T, limits engine.ReplayLimits) engine.Engine {
		// A prefix per engine: the contract reuses session ids.
		return newTestEngine(t, client, Config{Limits: limits, Prefix: fmt.Sprintf("{c%d}:", n.Add(1))})
	})
}

func newTestEngine(t *testing.T, client goredis.UniversalClient, cfg Config) *Engine {
	t.Helper()
	cfg.Client = client
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	eng, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}
