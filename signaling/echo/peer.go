package echo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/signaling/client"
	"github.com/switchboard-rtc/switchboard/signaling/client/call"
)

// dialWait bounds the echo peer's dial and join of its own server.
const dialWait = 5 * time.Second

// peer is one echo peer: a signaling session and a peer connection that
// answers requester only.
type peer struct {
	cfg       Config
	c         *client.Client
	requester string
	pc        *webrtc.PeerConnection
	keyframes *call.Keyframes           // the requester's asks for a keyframe of its video, passed on
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
	p.send(c)
}

func (p *peer) send(c webrtc.ICECandidateInit) {
	_ = p.c.SendCandidate(p.requester, &client.CandidateInit{
		Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
	})
}

// runPeer joins room, serves requester until ctx ends or requester
// leaves, then leaves. It returns the test's outcome.
func runPeer(ctx context.Context, cfg Config, room, requester string, relayOnly bool) (string, error) {
	dialCtx, cancel := context.WithTimeout(ctx, dialWait)
	defer cancel()
	// Its own server, on loopback: one channel, no owner to follow (a
	// cluster's owner is a public URL the loopback dial never matches).
	c, err := client.Dial(dialCtx, cfg.URL, client.Options{
		Transports: []client.Transport{client.WebSocket}, TLS: cfg.TLS, NoFollowOwner: true, Logger: cfg.Logger,
	})
	if err != nil {
		return outcomeFailed, fmt.Errorf("dial %s: %w", cfg.URL, err)
	}
	// At the end of its lifetime the peer says bye, so its session ends
	// at once (a dropped socket would keep it for the resume grace).
	defer c.Close()
	join := client.JoinOptions{Name: "echo"}
	if cfg.JoinToken != nil {
		if join.Token, err = cfg.JoinToken(room); err != nil {
			return outcomeFailed, err
		}
	}
	if _, err := c.Join(dialCtx, room, join); err != nil {
		return outcomeFailed, fmt.Errorf("join %s: %w", room, err)
	}
	p := &peer{cfg: cfg, c: c, requester: requester, connected: make(chan struct{})}
	policy := webrtc.ICETransportPolicyAll
	if relayOnly {
		policy = webrtc.ICETransportPolicyRelay
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(settingEngine(cfg)))
	// The latest ICE servers: the welcome's, or the room's from joined.
	conf := webrtc.Configuration{ICEServers: pionServers(c.ICEServers()), ICETransportPolicy: policy}
	if p.pc, err = api.NewPeerConnection(conf); err != nil {
		return outcomeFailed, err
	}
	defer p.pc.Close()
	p.keyframes = call.NewKeyframes(p.pc)
	p.wire()
	err = p.serve(ctx)
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

func pionServers(servers []client.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(servers))
	for _, s := range servers {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
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
		if remote.Kind() == webrtc.RTPCodecTypeVideo {
			p.keyframes.Source(remote)
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

// serve handles the requester's frames until ctx ends, the requester
// leaves or the session ends.
func (p *peer) serve(ctx context.Context) error {
	for {
		var ev client.Event
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-p.c.Events():
			if !ok {
				return p.c.Err()
			}
			ev = e
		}
		switch ev := ev.(type) {
		case client.Offer:
			if ev.From == p.requester {
				if err := p.answer(ev.SDP); err != nil {
					return err
				}
			}
		case client.Candidate:
			if ev.From == p.requester && ev.Candidate != nil && candidateAllowed(p.cfg, ev.Candidate.Candidate) {
				c := webrtc.ICECandidateInit{Candidate: ev.Candidate.Candidate, SDPMid: ev.Candidate.SDPMid,
					SDPMLineIndex: ev.Candidate.SDPMLineIndex, UsernameFragment: ev.Candidate.UsernameFragment}
				if p.pc.RemoteDescription() == nil {
					p.pending = append(p.pending, c)
				} else {
					_ = p.pc.AddICECandidate(c)
				}
			}
		case client.PeerLeft:
			if ev.Peer.ID == p.requester {
				return errLeft
			}
		case client.ResumeFailed:
			return errSessionLost // its room, and the requester, are gone with it
		case client.ErrorEvent:
			return fmt.Errorf("server: %s: %s", ev.Code, ev.Message)
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
		sender, err := p.pc.AddTrack(track)
		if err != nil {
			return err
		}
		if kind == "video" {
			go p.keyframes.Watch(sender)
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
	if err := p.c.SendAnswer(p.requester, answer.SDP); err != nil {
		return err
	}
	p.answered = true
	for _, c := range p.outbox {
		p.send(c)
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
