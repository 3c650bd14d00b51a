package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

const e2eTimeout = 20 * time.Second

// eventually polls cond (Go side) until it returns "", and fails the test
// with what and cond's last answer once deadline has passed. It is for
// state no event announces: a gauge on /metrics, a listener in another
// process, what the fake signaling server has seen. A test that can read
// a frame or a channel waits on that instead.
func eventually(t testing.TB, deadline time.Time, what string, cond func() string) {
	t.Helper()
	for {
		missing := cond()
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last seen: %s", what, missing)
		}
		time.Sleep(20 * time.Millisecond) // the poll's interval: the state has no event to wait on
	}
}

// iceServers converts the iceServers of the last joined event into
// pion's type: TURN credentials come with joined, not welcome.
func (c *sigClient) iceServers() []webrtc.ICEServer {
	c.mu.Lock()
	joined := c.joined
	c.mu.Unlock()
	if joined == nil {
		c.t.Fatal("ICE servers asked of a session in no room: TURN credentials come with joined")
	}
	raw, _ := json.Marshal(joined["iceServers"])
	var servers []webrtc.ICEServer
	if err := json.Unmarshal(raw, &servers); err != nil {
		c.t.Fatal(err)
	}
	return servers
}

// relayPeer is a pion PeerConnection that may only use TURN relays.
type relayPeer struct {
	pc       *webrtc.PeerConnection
	sig      *sigClient
	remoteID string
	pending  []webrtc.ICECandidateInit // candidates that beat the remote description
	opened   chan *webrtc.DataChannel
	received chan string
	sentCand chan struct{} // a candidate went out (capacity 1)
}

func newRelayPeer(t *testing.T, sig *sigClient) *relayPeer {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled) // no multicast off the box
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         sig.iceServers(),
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
	if err != nil {
		t.Fatal(err)
	}
	return wirePeer(t, sig, pc)
}

// wirePeer makes pc a peer that trickles its candidates through sig.
func wirePeer(t *testing.T, sig *sigClient, pc *webrtc.PeerConnection) *relayPeer {
	t.Cleanup(func() { _ = pc.Close() })
	p := &relayPeer{pc: pc, sig: sig, opened: make(chan *webrtc.DataChannel, 1), received: make(chan string, 4),
		sentCand: make(chan struct{}, 1)}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		defer func() {
			select {
			case p.sentCand <- struct{}{}:
			default:
			}
		}()
		if c == nil {
			sig.send(map[string]any{"type": "candidate", "to": p.remoteID, "candidate": nil})
			return
		}
		sig.send(map[string]any{"type": "candidate", "to": p.remoteID, "candidate": c.ToJSON()})
	})
	pc.OnDataChannel(p.watch)
	return p
}

func (p *relayPeer) watch(dc *webrtc.DataChannel) {
	dc.OnOpen(func() { p.opened <- dc })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { p.received <- string(m.Data) })
}

// handle applies one signaling frame from the remote peer.
func (p *relayPeer) handle(t *testing.T, f map[string]any) {
	t.Helper()
	switch f["type"] {
	case "offer", "answer":
		sdpType := webrtc.SDPTypeOffer
		if f["type"] == "answer" {
			sdpType = webrtc.SDPTypeAnswer
		}
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: sdpType, SDP: f["sdp"].(string)}); err != nil {
			t.Fatal(err)
		}
		for _, c := range p.pending {
			if err := p.pc.AddICECandidate(c); err != nil {
				t.Fatal(err)
			}
		}
		p.pending = nil
		if sdpType == webrtc.SDPTypeOffer {
			answer, err := p.pc.CreateAnswer(nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.pc.SetLocalDescription(answer); err != nil {
				t.Fatal(err)
			}
			p.sig.send(map[string]any{"type": "answer", "to": p.remoteID, "sdp": answer.SDP})
		}
	case "candidate":
		if f["candidate"] == nil {
			return // end of candidates
		}
		raw, _ := json.Marshal(f["candidate"])
		var c webrtc.ICECandidateInit
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		if p.pc.RemoteDescription() == nil {
			p.pending = append(p.pending, c)
		} else if err := p.pc.AddICECandidate(c); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unexpected frame %v", f)
	}
}

// TestCallThroughRelay is the walking skeleton end to end: two pion peers
// meet in a room, negotiate over our signaling with relay-only ICE using
// the credentials from welcome, open a DataChannel through our TURN server
// and exchange messages both ways.
func TestCallThroughRelay(t *testing.T) {
	parallel(t)
	app := startApp(t, nil)
	alice, bob := relayCall(t, dialSignaling(t, app.wsURL), dialSignaling(t, app.wsURL), "e2e", nil)

	for name, p := range map[string]*relayPeer{"alice": alice, "bob": bob} {
		pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("%s: no selected pair: %v", name, err)
		}
		if pair.Local.Typ != webrtc.ICECandidateTypeRelay || pair.Remote.Typ != webrtc.ICECandidateTypeRelay {
			t.Fatalf("%s: selected pair %s, want relay on both ends", name, pair)
		}
	}

	// The call shows up in the operator's metrics.
	metrics := get(t, app.httpURL+"/metrics")
	for _, want := range []string{
		`switchboard_signaling_relayed_total{type="offer"} 1`,
		`switchboard_signaling_relayed_total{type="answer"} 1`,
		`switchboard_signaling_sessions 2`,
		`switchboard_signaling_rooms 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(metrics, `switchboard_turn_auth_total{result="ok"}`) ||
		strings.Contains(metrics, "switchboard_turn_allocations 0\n") ||
		!strings.Contains(metrics, `switchboard_turn_relayed_bytes_total{direction="in"}`) {
		t.Errorf("TURN metrics do not show the call:\n%s", grepLines(metrics, "switchboard_turn"))
	}
}

// relayCall has two relay-only pion peers meet in room, alice offer a
// DataChannel, and both pump signaling until it is open and has carried a
// message each way. afterOffer, if set, runs right after alice's offer is
// sent and may replace bob's channel: bob is read through the function it
// returns then.
func relayCall(t *testing.T, aliceSig, bobSig *sigClient, room string, afterOffer func(alice *relayPeer)) (alice, bob *relayPeer) {
	t.Helper()
	aliceSig.send(map[string]any{"type": "join", "room": room, "name": "alice"})
	aliceSig.next("joined")
	bobSig.send(map[string]any{"type": "join", "room": room, "name": "bob"})
	bobPeers := bobSig.next("joined")["peers"].([]any)
	bobJoined := aliceSig.next("peer-joined")

	alice, bob = newRelayPeer(t, aliceSig), newRelayPeer(t, bobSig)
	alice.remoteID = bobJoined["peer"].(map[string]any)["id"].(string)
	bob.remoteID = bobPeers[0].(map[string]any)["id"].(string)

	dc, err := alice.pc.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	alice.watch(dc)
	offer, err := alice.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	aliceSig.send(map[string]any{"type": "offer", "to": alice.remoteID, "sdp": offer.SDP})
	if afterOffer != nil {
		afterOffer(alice)
	}

	// Pump signaling until both channels are open.
	var aliceDC, bobDC *webrtc.DataChannel
	deadline := time.After(e2eTimeout)
	for aliceDC == nil || bobDC == nil {
		select {
		case f := <-aliceSig.frames:
			alice.handle(t, f)
		case f := <-bobSig.frames:
			bob.handle(t, f)
		case aliceDC = <-alice.opened:
		case bobDC = <-bob.opened:
		case <-deadline:
			t.Fatalf("data channel did not open: alice %s, bob %s", alice.pc.ICEConnectionState(), bob.pc.ICEConnectionState())
		}
	}
	if err := aliceDC.SendText("hello from alice"); err != nil {
		t.Fatal(err)
	}
	expectText(t, bob.received, "hello from alice")
	if err := bobDC.SendText("hello from bob"); err != nil {
		t.Fatal(err)
	}
	expectText(t, alice.received, "hello from bob")
	return alice, bob
}

func expectText(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	case <-time.After(e2eTimeout):
		t.Fatalf("never received %q", want)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
