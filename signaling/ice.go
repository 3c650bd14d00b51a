package signaling

import "time"

// ICEServer is one entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICEProvider returns the ICE servers a session may use and how long their
// credentials stay valid. sessionID names the session the TURN credentials
// are issued to.
type ICEProvider func(sessionID string) (servers []ICEServer, ttl time.Duration)

type iceServersResponse struct {
	ICEServers []ICEServer `json:"iceServers"`
	TTL        int         `json:"ttl"`
}
