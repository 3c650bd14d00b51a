package enginetest

import (
	"bytes"
	"errors"
	"sync/atomic"

	"github.com/switchboard-rtc/switchboard/signaling/engine"
)

// Flaky is the single-node engine whose Send of a frame holding "flaky"
// fails, relaying nothing, while Fails is above zero: as a cluster's does
// when Redis does not answer, so that the server refuses the frame
// unavailable.
type Flaky struct {
	*engine.Memory
	Fails atomic.Int32
}

// NewFlaky is a Flaky on a memory engine with its defaults.
func NewFlaky() *Flaky { return &Flaky{Memory: engine.NewMemory(engine.MemoryConfig{})} }

// Send implements engine.Engine.
func (e *Flaky) Send(room, from, to string, frame []byte, cseq uint64) error {
	if bytes.Contains(frame, []byte("flaky")) && e.Fails.Add(-1) >= 0 {
		return errors.New("redis: i/o timeout")
	}
	return e.Memory.Send(room, from, to, frame, cseq)
}
