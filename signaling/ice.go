package signaling

import (
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// ICEProvider returns the ICE servers a session may use and how long their
// credentials stay valid. sessionID names the session the TURN credentials
// are issued to.
type ICEProvider func(sessionID string) (servers []wire.ICEServer, ttl time.Duration)
