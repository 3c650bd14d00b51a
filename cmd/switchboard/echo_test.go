package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// echoCall asks for the echo peer in a fresh room and calls it with a
// data channel and a VP8 track; it returns once a message and RTP have
// come back.
func echoCall(t *testing.T, app *testApp, room string, relay bool) {
	t.Helper()
	c := dialSignaling(t, app.wsURL)
	c.send(map[string]any{"type": "join", "room": room, "id": 1})
	joinedRoom := c.next("joined")
	c.send(map[string]any{"type": "echo", "id": 2, "relay": relay})
	if f := c.next("echo"); f["re"] != float64(2) {
		t.Fatalf("echo reply %v", f)
	}
	joined := c.next("peer-joined")
	echoID := joined["peer"].(map[string]any)["id"].(string)
	if name := joined["peer"].(map[string]any)["name"]; name != "echo" {
		t.Fatalf("peer-joined %v", joined)
	}

	var ice []webrtc.ICEServer
	for _, s := range joinedRoom["iceServers"].([]any) {
		m := s.(map[string]any)
		srv := webrtc.ICEServer{}
		for _, u := range m["urls"].([]any) {
			srv.URLs = append(srv.URLs, u.(string))
		}
		srv.Username, _ = m["username"].(string)
		srv.Credential, _ = m["credential"].(string)
		ice = append(ice, srv)
	}
	policy := webrtc.ICETransportPolicyAll
	if relay {
		policy = webrtc.ICETransportPolicyRelay
	}
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{ICEServers: ice, ICETransportPolicy: policy})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(video); err != nil {
		t.Fatal(err)
	}
	looped := make(chan struct{}, 1)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			select {
			case looped <- struct{}{}:
			default:
			}
		}
	})
	dc, err := pc.CreateDataChannel("echo-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	opened, echoed := make(chan struct{}), make(chan string, 4)
	dc.OnOpen(func() { close(opened) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { echoed <- string(m.Data) })
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			c.send(map[string]any{"type": "candidate", "to": echoID, "candidate": cand.ToJSON()})
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	c.send(map[string]any{"type": "offer", "to": echoID, "sdp": offer.SDP})

	deadline := time.After(e2eTimeout)
	tick := time.NewTicker(20 * time.Millisecond) // RTP pacing, bounded by the deadline
	defer tick.Stop()
	var gotMessage, gotRTP bool
	seq := uint16(0)
	for !gotMessage || !gotRTP {
		select {
		case f := <-c.frames:
			switch f["type"] {
			case "answer":
				if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: f["sdp"].(string)}); err != nil {
					t.Fatal(err)
				}
			case "candidate":
				if m, ok := f["candidate"].(map[string]any); ok {
					init := webrtc.ICECandidateInit{Candidate: m["candidate"].(string)}
					if mid, ok := m["sdpMid"].(string); ok {
						init.SDPMid = &mid
					}
					_ = pc.AddICECandidate(init)
				}
			}
		case <-opened:
			opened = nil
			if err := dc.SendText("hello echo"); err != nil {
				t.Fatal(err)
			}
		case m := <-echoed:
			if m != "hello echo" {
				t.Fatalf("echoed %q", m)
			}
			gotMessage = true
		case <-looped:
			gotRTP = true
		case <-tick.C:
			seq++
			_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 1},
				Payload: []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}})
		case <-deadline:
			t.Fatalf("echo: message %v, RTP %v, ICE %s", gotMessage, gotRTP, pc.ICEConnectionState())
		}
	}
	if relay {
		pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil || pair.Local.Typ != webrtc.ICECandidateTypeRelay {
			t.Fatalf("relay-only echo used %v (%v)", pair, err)
		}
	}
	c.send(map[string]any{"type": "leave", "id": 3})
}

func TestEchoPeer(t *testing.T) {
	parallel(t)
	app := startApp(t, func(c *config) { c.Echo = true })
	t.Run("direct", func(t *testing.T) { echoCall(t, app, "echo-direct", false) })
	waitEchoIdle(t, app)
	t.Run("relay only", func(t *testing.T) { echoCall(t, app, "echo-relay", true) })
	waitEchoIdle(t, app)
	if m := metricsText(t, app); !strings.Contains(m, `switchboard_echo_tests_total{outcome="connected"} 2`) {
		t.Fatalf("two connected echo tests not counted:\n%s", m)
	}
}

// waitEchoIdle waits until the echo peers of earlier calls are gone: one
// per client address at a time.
func waitEchoIdle(t *testing.T, app *testApp) {
	t.Helper()
	eventually(t, time.Now().Add(e2eTimeout), "the echo peer to end after its requester left", func() string { return echoActive(t, app) })
}

func TestEchoRefusals(t *testing.T) {
	parallel(t)
	off := startApp(t, nil)
	c := dialSignaling(t, off.wsURL)
	c.send(map[string]any{"type": "echo", "id": 1})
	if f := c.next("error"); f["code"] != "echo_off" {
		t.Fatalf("without -echo: %v", f)
	}

	app := startApp(t, func(c *config) { c.Echo, c.EchoMax, c.echoLifetime = true, 2, 300*time.Millisecond })
	a := dialSignaling(t, app.wsURL)
	a.send(map[string]any{"type": "echo", "id": 1})
	if f := a.next("error"); f["code"] != "not_in_room" {
		t.Fatalf("outside a room: %v", f)
	}
	a.send(map[string]any{"type": "join", "room": "caps", "id": 2})
	a.next("joined")
	a.send(map[string]any{"type": "echo", "id": 3})
	a.next("echo")
	a.next("peer-joined")
	// One per client address: every test client is 127.0.0.1.
	a.send(map[string]any{"type": "echo", "id": 4})
	if f := a.next("error"); f["code"] != "echo_busy" || !strings.Contains(fmt.Sprint(f["message"]), "one per address") {
		t.Fatalf("second echo from one address: %v", f)
	}
	// Nobody offers: the peer leaves when its lifetime is up, and may be
	// asked for again.
	if f := a.next("peer-left"); f == nil {
		t.Fatal("echo peer did not leave")
	}
	eventually(t, time.Now().Add(e2eTimeout), "echo peer released", func() string { return echoActive(t, app) })
	if !strings.Contains(metricsText(t, app), `switchboard_echo_tests_total{outcome="unused"} 1`) {
		t.Fatal("unused echo not counted")
	}
	a.send(map[string]any{"type": "echo", "id": 5})
	a.next("echo")
}

func metricsText(t *testing.T, app *testApp) string {
	t.Helper()
	resp, err := http.Get(app.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// echoActive is "" once app counts no echo peer, else the gauge's line:
// a peer's slot is freed after its peer-left, with no event to wait on.
func echoActive(t *testing.T, app *testApp) string {
	m := metricsText(t, app)
	if strings.Contains(m, "\nswitchboard_echo_peers 0\n") {
		return ""
	}
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, "switchboard_echo_peers ") {
			return line
		}
	}
	return "no switchboard_echo_peers gauge"
}
