package engine_test

import (
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
	"github.com/switchboard-rtc/switchboard/signaling/engine/enginetest"
)

// TestMemory runs the engine contract against the single-node engine.
func TestMemory(t *testing.T) {
	enginetest.Run(t, func(_ *testing.T, limits engine.ReplayLimits) engine.Engine {
		return engine.NewMemory(engine.MemoryConfig{Limits: limits})
	})
}
