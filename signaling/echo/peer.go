package echo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
)

// frame is what the echo peer reads of the server's events.
type frame struct {
	Type       string                   `json:"type"`
	Token      string                   `json:"token"`
	From       string                   `json:"from"`
	SDP        string                   `json:"sdp"`
	Candidate  *webrtc.ICECandidateInit `json:"candidate"`
	Peer       struct{ ID string }      `json:"peer"`
	Code       string                   `json:"code"`
	Message    string                   `json:"message"`
	ICEServers []webrtc.ICEServer       `json:"iceServers"`
}

// peer is one echo peer: a signaling session and a peer connection that
// answers requester only.
type peer struct {
	cfg       Config
	ws        *websocket.Conn
	wmu       sync.Mutex // one writer at a time on the socket
	requester string
	pc        *webrtc.PeerConnection
	pending   []webrtc.ICECandidateInit // before the offer
	connected chan struct{}
	once      sync.Once

	cmu      sync.Mutex
	answered bool                      // the answer went out
	outbox   []webrtc.ICECandidateInit // own candidates gathered before it did
}

// sendCandidate sends an own candidate, after the answer: a client that
// gets a candidate before the answer cannot add it yet, and many drop it.
func (p *peer) sendCandidate(c webrtc.ICECandidateInit) {
	p.cmu.Lock()
	defer p.cmu.Unlock()
	if !p.answered {
		p.outbox = append(p.outbox, c)
		return
	}
	_ = p.send(map[string]any{"type": "candidate", "to": p.requester, "candidate": c})
}

func (p *peer) send(msg map[string]any) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return p.ws.WriteJSON(msg)
}

// runPeer joins room, serves requester until ctx ends or requester
// leaves, then leaves. It returns the test's outcome.
func runPeer(ctx context.Context, cfg Config, room, requester string, relayOnly bool) (string, error) {
	dialer := websocket.Dialer{TLSClientConfig: cfg.TLS, HandshakeTimeout: 5 * time.Second}
	ws, _, err := dialer.DialContext(ctx, cfg.URL, nil) // no Origin: a non-browser client
	if err != nil {
		return outcomeFailed, fmt.Errorf("dial %s: %w", cfg.URL, err)
	}
	p := &peer{cfg: cfg, ws: ws, requester: requester, connected: make(chan struct{})}
	// At the end of its lifetime the peer says bye, so its session ends
	// at once (a dropped socket would keep it for the resume grace), and
	// the closed socket unblocks the reader.
	stop := context.AfterFunc(ctx, func() {
		_ = p.send(map[string]any{"type": "bye"})
		_ = ws.Close()
	})
	defer stop()
	defer func() {
		if p.pc != nil {
			_ = p.pc.Close()
		}
		_ = p.send(map[string]any{"type": "bye"})
		_ = ws.Close()
	}()
	var welcome frame
	if err := ws.ReadJSON(&welcome); err != nil || welcome.Type != "welcome" {
		return outcomeFailed, fmt.Errorf("%w (%v)", errNoWelcome, err)
	}
	join := map[string]any{"type": "join", "room": room, "name": "echo", "id": 1}
	if cfg.JoinToken != nil {
		token, err := cfg.JoinToken(room)
		if err != nil {
			return outcomeFailed, err
		}
		join["token"] = token
	}
	if err := p.send(join); err != nil {
		return outcomeFailed, err
	}
	joined, err := p.awaitJoined()
	if err != nil {
		return outcomeFailed, err
	}
	policy := webrtc.ICETransportPolicyAll
	if relayOnly {
		policy = webrtc.ICETransportPolicyRelay
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(settingEngine(cfg)))
	if p.pc, err = api.NewPeerConnection(webrtc.Configuration{ICEServers: joined.ICEServers, ICETransportPolicy: policy}); err != nil {
		return outcomeFailed, err
	}
	p.wire()
	err = p.serve()
	select {
	case <-p.connected:
		if ctx.Err() != nil || errors.Is(err, errLeft) {
			err = nil // the lifetime ran out, or the test ended: both are how it ends
		}
		return outcomeConnected, err
	default:
	}
	if p.pc.RemoteDescription() == nil {
		return outcomeUnused, err
	}
	return outcomeFailed, err
}

// awaitJoined reads the reply to the peer's join: the joined event, whose
// ICE servers carry the TURN credentials (welcome has STUN only). Nothing
// of the requester's can come first: it learns the peer's id from the
// peer-joined that follows this joined.
func (p *peer) awaitJoined() (frame, error) {
	for {
		var f frame
		if err := p.ws.ReadJSON(&f); err != nil {
			return f, fmt.Errorf("%w (%v)", errNotJoined, err)
		}
		switch f.Type {
		case "joined":
			return f, nil
		case "error":
			return f, fmt.Errorf("%w: %s: %s", errNotJoined, f.Code, f.Message)
		}
	}
}

// wire sets the peer connection's callbacks: candidates go to the
// requester, data channel messages come back, media loops back.
func (p *peer) wire() {
	p.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			p.sendCandidate(c.ToJSON())
		}
	})
	p.pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			p.once.Do(func() { close(p.connected) })
		}
	})
	p.pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			if dc.BufferedAmount() > maxEchoBuffered {
				return // a requester that does not read does not grow our queue
			}
			if m.IsString {
				_ = dc.SendText(string(m.Data))
			} else {
				_ = dc.Send(m.Data)
			}
		})
	})
	p.pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		local := p.localTrack(remote.Kind())
		if local == nil {
			return
		}
		for {
			pkt, _, err := remote.ReadRTP()
			if err != nil {
				return
			}
			_ = local.WriteRTP(pkt) // a packet the requester cannot take is lost, like any RTP
		}
	})
}

// localTrack finds the track sending media of kind back.
func (p *peer) localTrack(kind webrtc.RTPCodecType) *webrtc.TrackLocalStaticRTP {
	for _, s := range p.pc.GetSenders() {
		if t, ok := s.Track().(*webrtc.TrackLocalStaticRTP); ok && t.Kind() == kind {
			return t
		}
	}
	return nil
}

// maxEchoBuffered bounds what waits to be echoed on a data channel.
const maxEchoBuffered = 1 << 20

// serve handles the requester's frames until the socket ends.
func (p *peer) serve() error {
	for {
		var f frame
		if err := p.ws.ReadJSON(&f); err != nil {
			return err
		}
		switch f.Type {
		case "offer":
			if f.From == p.requester {
				if err := p.answer(f.SDP); err != nil {
					return err
				}
			}
		case "candidate":
			if f.From == p.requester && f.Candidate != nil && candidateAllowed(p.cfg, f.Candidate.Candidate) {
				if p.pc.RemoteDescription() == nil {
					p.pending = append(p.pending, *f.Candidate)
				} else {
					_ = p.pc.AddICECandidate(*f.Candidate)
				}
			}
		case "peer-left":
			if f.Peer.ID == p.requester {
				return errLeft
			}
		case "error":
			return fmt.Errorf("server: %s: %s", f.Code, f.Message)
		}
	}
}

// answer takes the requester's offer: one track back per kind offered
// (Opus, VP8: what browsers always offer), then the answer.
func (p *peer) answer(sdp string) error {
	offer := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: filterSDP(p.cfg, sdp)}
	for kind, mime := range map[string]string{"audio": webrtc.MimeTypeOpus, "video": webrtc.MimeTypeVP8} {
		if !strings.Contains(sdp, "m="+kind+" ") || p.hasTrack(kind) {
			continue
		}
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime}, kind, "echo")
		if err != nil {
			return err
		}
		if _, err := p.pc.AddTrack(track); err != nil {
			return err
		}
	}
	if err := p.pc.SetRemoteDescription(offer); err != nil {
		return err
	}
	for _, c := range p.pending {
		_ = p.pc.AddICECandidate(c)
	}
	p.pending = nil
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return err
	}
	p.cmu.Lock()
	defer p.cmu.Unlock()
	if err := p.send(map[string]any{"type": "answer", "to": p.requester, "sdp": answer.SDP}); err != nil {
		return err
	}
	p.answered = true
	for _, c := range p.outbox {
		_ = p.send(map[string]any{"type": "candidate", "to": p.requester, "candidate": c})
	}
	p.outbox = nil
	return nil
}

func (p *peer) hasTrack(kind string) bool {
	for _, s := range p.pc.GetSenders() {
		if t := s.Track(); t != nil && t.Kind().String() == kind {
			return true
		}
	}
	return false
}
