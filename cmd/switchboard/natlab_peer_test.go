package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/cmd/switchboard/internal/natlab"
)

// relayAcceptanceWait is how long lab peers try direct pairs before they
// may settle on the relay.
const relayAcceptanceWait = 5 * time.Second

// labPeer is a pion peer in one of the lab's client networks: its
// signaling WebSocket and its ICE sockets all live in that network's
// namespace, in this process. Its methods return errors rather than
// failing a test: calls run side by side in goroutines.
type labPeer struct {
	network string
	net     *natlab.Net
	ws      *websocket.Conn
	writeMu sync.Mutex
	frames  chan map[string]any
	readEnd chan struct{}
	welcome map[string]any
	joined  map[string]any

	pc       *webrtc.PeerConnection
	remoteID string
	pending  []webrtc.ICECandidateInit
	opened   chan *webrtc.DataChannel
	received chan string
}

// dialLabPeer opens a session from network's client namespace.
func dialLabPeer(ctx context.Context, l *natlab.Lab, srv *labServer, network string) (*labPeer, error) {
	n, err := natlab.NewNet(l.ClientNS(network))
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{NetDialContext: n.DialContext, HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.DialContext(ctx, srv.wsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: signaling: %w", network, err)
	}
	p := &labPeer{network: network, net: n, ws: ws, frames: make(chan map[string]any, 64), readEnd: make(chan struct{}),
		opened: make(chan *webrtc.DataChannel, 1), received: make(chan string, 4)}
	go func() {
		defer close(p.readEnd)
		defer close(p.frames)
		for {
			var f map[string]any
			if err := ws.ReadJSON(&f); err != nil {
				return
			}
			if f["type"] == "ping" {
				continue
			}
			p.frames <- f
		}
	}()
	if p.welcome, err = p.next(ctx, "welcome"); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *labPeer) close() {
	if p.pc != nil {
		_ = p.pc.Close()
	}
	_ = p.ws.Close()
	<-p.readEnd
}

func (p *labPeer) send(v any) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	_ = p.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return p.ws.WriteJSON(v)
}

// next waits for a frame of type typ; anything else first is an error.
func (p *labPeer) next(ctx context.Context, typ string) (map[string]any, error) {
	select {
	case f, ok := <-p.frames:
		if !ok {
			return nil, fmt.Errorf("%s: signaling closed waiting for %s", p.network, typ)
		}
		if f["type"] != typ {
			return nil, fmt.Errorf("%s: got %v, want %s", p.network, f, typ)
		}
		return f, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: no %s: %w", p.network, typ, ctx.Err())
	}
}

// labICEServers is where a lab peer takes its ICE servers from, the way a
// client of this server version must: `joined` when it carries them (a
// relay pool), else `welcome`. The one place to change if credentials
// move between messages.
func labICEServers(welcome, joined map[string]any) ([]webrtc.ICEServer, error) {
	from := welcome
	if joined != nil && joined["iceServers"] != nil {
		from = joined
	}
	raw, _ := json.Marshal(from["iceServers"])
	var servers []webrtc.ICEServer
	if err := json.Unmarshal(raw, &servers); err != nil {
		return nil, err
	}
	if len(servers) == 0 {
		return nil, errors.New("no iceServers handed out")
	}
	return servers, nil
}

// join enters room and builds the PeerConnection with the servers handed
// out; the returned frame is `joined`.
func (p *labPeer) join(ctx context.Context, room string) error {
	if err := p.send(map[string]any{"type": "join", "room": room, "name": p.network}); err != nil {
		return err
	}
	var err error
	if p.joined, err = p.next(ctx, "joined"); err != nil {
		return err
	}
	servers, err := labICEServers(p.welcome, p.joined)
	if err != nil {
		return fmt.Errorf("%s: %w", p.network, err)
	}
	var se webrtc.SettingEngine
	se.SetNet(p.net)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	// A relay pair may be chosen only after direct checks have had time to
	// get through both NATs, even on a loaded machine: pion's 2 s let a
	// relay win a race with a direct pair that works (full↔sym, 2 runs in
	// 4). The matrix tests what the NATs allow, not that race. A peer-
	// reflexive remote waits as long: it may be the other side's relayed
	// address seen through its checks (full↔port chose one so).
	se.SetRelayAcceptanceMinWait(relayAcceptanceWait)
	se.SetPrflxAcceptanceMinWait(relayAcceptanceWait)
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	if p.pc, err = api.NewPeerConnection(webrtc.Configuration{ICEServers: servers}); err != nil {
		return err
	}
	p.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		var cand any // nil: end of candidates
		if c != nil {
			cand = c.ToJSON()
		}
		_ = p.send(map[string]any{"type": "candidate", "to": p.remoteID, "candidate": cand})
	})
	p.pc.OnDataChannel(p.watch)
	return nil
}

func (p *labPeer) watch(dc *webrtc.DataChannel) {
	dc.OnOpen(func() { p.opened <- dc })
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		select {
		case p.received <- string(m.Data):
		default:
		}
	})
}

// handle applies one frame from the other peer.
func (p *labPeer) handle(f map[string]any) error {
	switch f["type"] {
	case "offer", "answer":
		typ := webrtc.SDPTypeOffer
		if f["type"] == "answer" {
			typ = webrtc.SDPTypeAnswer
		}
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: f["sdp"].(string)}); err != nil {
			return err
		}
		for _, c := range p.pending {
			if err := p.pc.AddICECandidate(c); err != nil {
				return err
			}
		}
		p.pending = nil
		if typ == webrtc.SDPTypeOffer {
			answer, err := p.pc.CreateAnswer(nil)
			if err != nil {
				return err
			}
			if err := p.pc.SetLocalDescription(answer); err != nil {
				return err
			}
			return p.send(map[string]any{"type": "answer", "to": p.remoteID, "sdp": answer.SDP})
		}
	case "candidate":
		if f["candidate"] == nil {
			return nil
		}
		raw, _ := json.Marshal(f["candidate"])
		var c webrtc.ICECandidateInit
		if err := json.Unmarshal(raw, &c); err != nil {
			return err
		}
		if p.pc.RemoteDescription() == nil {
			p.pending = append(p.pending, c)
			return nil
		}
		return p.pc.AddICECandidate(c)
	case "peer-left", "peer-joined":
	default:
		return fmt.Errorf("%s: unexpected frame %v", p.network, f)
	}
	return nil
}

// pairEnd is one end of a selected candidate pair, as its peer saw it.
type pairEnd struct {
	Local, Remote string // candidate types: host, srflx, prflx, relay
	RelayProto    string // udp, tcp or tls when Local is relay
}

func (e pairEnd) String() string {
	s := e.Local
	if e.RelayProto != "" {
		s += "/" + e.RelayProto
	}
	return s + "→" + e.Remote
}

// selected reads the peer's selected pair and, for a relay candidate, the
// transport it reaches the relay over (from the stats).
func (p *labPeer) selected() (pairEnd, error) {
	pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return pairEnd{}, fmt.Errorf("%s: no selected pair: %v", p.network, err)
	}
	end := pairEnd{Local: pair.Local.Typ.String(), Remote: pair.Remote.Typ.String()}
	if pair.Local.Typ == webrtc.ICECandidateTypeRelay {
		for _, s := range p.pc.GetStats() {
			if c, ok := s.(webrtc.ICECandidateStats); ok && c.Type == webrtc.StatsTypeLocalCandidate &&
				c.IP == pair.Local.Address && int(c.Port) == int(pair.Local.Port) {
				end.RelayProto = c.RelayProtocol
			}
		}
	}
	return end, nil
}

// labCall has a (in network a) call b (in network b) in room: a offers a
// DataChannel, both pump signaling until it is open, and a message goes
// each way. It returns each side's selected pair.
func labCall(ctx context.Context, l *natlab.Lab, srv *labServer, room, a, b string) (ends [2]pairEnd, err error) {
	alice, err := dialLabPeer(ctx, l, srv, a)
	if err != nil {
		return ends, err
	}
	defer alice.close()
	bob, err := dialLabPeer(ctx, l, srv, b)
	if err != nil {
		return ends, err
	}
	defer bob.close()
	if err := alice.join(ctx, room); err != nil {
		return ends, err
	}
	if err := bob.join(ctx, room); err != nil {
		return ends, err
	}
	peers, _ := bob.joined["peers"].([]any)
	if len(peers) != 1 {
		return ends, fmt.Errorf("bob joined %v", bob.joined)
	}
	bob.remoteID = peers[0].(map[string]any)["id"].(string)
	pj, err := alice.next(ctx, "peer-joined")
	if err != nil {
		return ends, err
	}
	alice.remoteID = pj["peer"].(map[string]any)["id"].(string)

	dc, err := alice.pc.CreateDataChannel("lab", nil)
	if err != nil {
		return ends, err
	}
	alice.watch(dc)
	offer, err := alice.pc.CreateOffer(nil)
	if err != nil {
		return ends, err
	}
	if err := alice.pc.SetLocalDescription(offer); err != nil {
		return ends, err
	}
	if err := alice.send(map[string]any{"type": "offer", "to": alice.remoteID, "sdp": offer.SDP}); err != nil {
		return ends, err
	}
	var aliceDC, bobDC *webrtc.DataChannel
	for aliceDC == nil || bobDC == nil {
		select {
		case f, ok := <-alice.frames:
			if !ok {
				return ends, errors.New("alice's signaling closed")
			}
			err = alice.handle(f)
		case f, ok := <-bob.frames:
			if !ok {
				return ends, errors.New("bob's signaling closed")
			}
			err = bob.handle(f)
		case aliceDC = <-alice.opened:
		case bobDC = <-bob.opened:
		case <-ctx.Done():
			return ends, fmt.Errorf("no data channel: %s %s, %s %s: %w", a, alice.pc.ICEConnectionState(), b, bob.pc.ICEConnectionState(), ctx.Err())
		}
		if err != nil {
			return ends, err
		}
	}
	for _, hop := range []struct {
		from *webrtc.DataChannel
		to   *labPeer
		text string
	}{{aliceDC, bob, "from " + a}, {bobDC, alice, "from " + b}} {
		if err := hop.from.SendText(hop.text); err != nil {
			return ends, err
		}
		select {
		case got := <-hop.to.received:
			if got != hop.text {
				return ends, fmt.Errorf("%s got %q, want %q", hop.to.network, got, hop.text)
			}
		case <-ctx.Done():
			return ends, fmt.Errorf("%s never got %q: %w", hop.to.network, hop.text, ctx.Err())
		}
	}
	if ends[0], err = alice.selected(); err != nil {
		return ends, err
	}
	ends[1], err = bob.selected()
	return ends, err
}
