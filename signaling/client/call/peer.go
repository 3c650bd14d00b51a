package call

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/signaling/client"
)

// Peer is the peer connection to one remote peer.
type Peer struct {
	ID   string // the remote session id
	Name string

	pc     atomic.Pointer[webrtc.PeerConnection]
	room   *Room
	polite bool

	mu          sync.Mutex // one negotiation step at a time
	setUp       bool       // Setup ran
	ignoreOffer bool       // the last offer collided and lost
	pending     []webrtc.ICECandidateInit
	closed      bool

	// Own candidates wait while a description is being set and sent: a
	// candidate of a new ICE generation that overtook its offer would be
	// dropped by the peer ("doesn't match the current ufrags").
	candMu     sync.Mutex
	describing bool
	held       []*client.CandidateInit
}

func newPeer(r *Room, info client.Peer) (*Peer, error) {
	p := &Peer{ID: info.ID, Name: info.Name, room: r,
		// Exactly one side of each pair is polite; comparing ids needs
		// no extra signaling (the page's rule: web/static/roster.js).
		polite: r.c.Session() < info.ID}
	if err := p.connect(); err != nil {
		return nil, err
	}
	return p, nil
}

// Conn is the peer connection. It is replaced, and Setup runs again,
// when this side is polite and the peer's offer collides with its own:
// pion cannot roll an offer back as browsers do.
func (p *Peer) Conn() *webrtc.PeerConnection { return p.pc.Load() }

// connect makes a new peer connection for the peer.
func (p *Peer) connect() error {
	r := p.room
	conf := r.cfg.Configuration
	conf.ICEServers = iceServers(r.c.ICEServers())
	pc, err := r.cfg.API.NewPeerConnection(conf)
	if err != nil {
		return err
	}
	p.pc.Store(pc)
	p.setUp = false
	p.pending = nil
	p.candMu.Lock()
	p.held = nil // the old connection's
	p.candMu.Unlock()
	p.wire(pc)
	return nil
}

// wire sets pc's callbacks; they do nothing once pc is replaced.
func (p *Peer) wire(pc *webrtc.PeerConnection) {
	c := p.room.c
	current := func() bool { return p.pc.Load() == pc }
	pc.OnNegotiationNeeded(func() {
		if current() {
			p.offer(false)
		}
	})
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if !current() {
			return
		}
		var ci *client.CandidateInit
		if cand != nil {
			init := cand.ToJSON()
			ci = &client.CandidateInit{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment}
		}
		p.candMu.Lock()
		defer p.candMu.Unlock()
		if p.describing {
			p.held = append(p.held, ci)
			return
		}
		_ = c.SendCandidate(p.ID, ci)
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed && current() && !p.polite {
			// The impolite side restarts: a polite pion peer could not
			// roll its own restart back when both offered at once.
			p.room.cfg.Logger.Info("call: connection failed, restarting ICE", "peer", p.ID)
			p.offer(true)
		}
	})
}

// start: this side calls. What it sends goes on now; kinds it sends
// nothing of are offered receive-only, so it still receives them and the
// offer is made even when it sends nothing.
func (p *Peer) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.setup(); err != nil || p.room.cfg.DataOnly {
		return
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if !p.sends(kind) {
			_, _ = p.Conn().AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		}
	}
}

func (p *Peer) setup() error {
	if p.setUp {
		return nil
	}
	p.setUp = true
	if f := p.room.cfg.Setup; f != nil {
		if err := f(p); err != nil {
			p.room.cfg.Logger.Warn("call: setup failed", "peer", p.ID, "err", err)
			go p.room.drop(p.ID)
			return err
		}
	}
	return nil
}

func (p *Peer) sends(kind webrtc.RTPCodecType) bool {
	for _, t := range p.Conn().GetTransceivers() {
		if t.Kind() == kind {
			return true
		}
	}
	return false
}

// offer makes and sends an offer (with new ICE credentials for a
// restart), unless a negotiation is under way: its end triggers
// negotiation again if still needed.
func (p *Peer) offer(restart bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.Conn().SignalingState() != webrtc.SignalingStateStable {
		return
	}
	p.holdCandidates()
	defer p.releaseCandidates()
	offer, err := p.Conn().CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err == nil {
		err = p.Conn().SetLocalDescription(offer)
	}
	if err != nil {
		p.room.cfg.Logger.Debug("call: offer failed", "peer", p.ID, "err", err)
		return
	}
	p.room.cfg.Logger.Debug("call: offer", "peer", p.ID, "restart", restart)
	_ = p.room.c.SendOffer(p.ID, offer.SDP)
}

func (p *Peer) holdCandidates() {
	p.candMu.Lock()
	p.describing = true
	p.candMu.Unlock()
}

// releaseCandidates sends the candidates held, after the description.
func (p *Peer) releaseCandidates() {
	p.candMu.Lock()
	defer p.candMu.Unlock()
	p.describing = false
	for _, ci := range p.held {
		_ = p.room.c.SendCandidate(p.ID, ci)
	}
	p.held = nil
}

// RestartICE renegotiates with new ICE credentials: a network change
// that the connection may not notice by itself. A failed connection
// restarts by itself.
func (p *Peer) RestartICE() { p.offer(true) }

// description applies a remote offer or answer.
func (p *Peer) description(typ webrtc.SDPType, sdp string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	log := p.room.cfg.Logger
	// Under mu no offer is being made, so an offer collides when ours is
	// out and unanswered.
	collision := typ == webrtc.SDPTypeOffer && p.Conn().SignalingState() != webrtc.SignalingStateStable
	p.ignoreOffer = !p.polite && collision
	if p.ignoreOffer {
		log.Debug("call: ignoring colliding offer", "peer", p.ID)
		return
	}
	if collision {
		// The polite side gives way. Browsers roll their offer back; pion
		// cannot (have-local-offer has no rollback), so the connection
		// starts over and takes the peer's offer: cheap on a first
		// negotiation, where glare is common; a renegotiation collision
		// costs a reconnect.
		log.Debug("call: colliding offer, starting over to take it", "peer", p.ID)
		old := p.pc.Load()
		if err := p.connect(); err != nil {
			log.Warn("call: peer connection not made", "peer", p.ID, "err", err)
			return
		}
		go old.Close()
	}
	if err := p.Conn().SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: sdp}); err != nil {
		log.Debug("call: remote description refused", "peer", p.ID, "type", typ, "err", err)
		return
	}
	for _, c := range p.pending {
		_ = p.Conn().AddICECandidate(c)
	}
	p.pending = nil
	if typ != webrtc.SDPTypeOffer {
		return
	}
	if p.setup() != nil {
		return
	}
	p.declineUnsent()
	p.holdCandidates()
	defer p.releaseCandidates()
	answer, err := p.Conn().CreateAnswer(nil)
	if err == nil {
		err = p.Conn().SetLocalDescription(answer)
	}
	if err != nil {
		log.Debug("call: answer failed", "peer", p.ID, "err", err)
		return
	}
	_ = p.room.c.SendAnswer(p.ID, answer.SDP)
}

// declineUnsent stops the transceivers the peer offered to receive on
// (its recvonly m-lines) that this side has nothing to send on: pion
// would leave them "sendonly" without a sender, which it counts as a
// negotiation still needed, and so offer again right after answering,
// inviting glare.
func (p *Peer) declineUnsent() {
	for _, t := range p.Conn().GetTransceivers() {
		if t.Direction() == webrtc.RTPTransceiverDirectionSendonly && (t.Sender() == nil || t.Sender().Track() == nil) {
			_ = t.Stop()
		}
	}
}

// candidate adds a remote candidate; nil is the end of them.
func (p *Peer) candidate(c *client.CandidateInit) {
	if c == nil || strings.TrimSpace(c.Candidate) == "" {
		return // pion needs no end-of-candidates
	}
	init := webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.Conn().RemoteDescription() == nil {
		p.pending = append(p.pending, init)
		return
	}
	if err := p.Conn().AddICECandidate(init); err != nil && !p.ignoreOffer {
		// Candidates of an offer we ignored are expected to fail.
		p.room.cfg.Logger.Debug("call: candidate refused", "peer", p.ID, "err", err)
	}
}

// setICEServers installs renewed ICE servers for the next gathering.
// An allocation keeps the credentials it was made with until ICE
// restarts, so a call going through a relay restarts (from the impolite
// side, which sees the relay on either end of the pair).
func (p *Peer) setICEServers(servers []client.ICEServer) {
	p.mu.Lock()
	conf := p.Conn().GetConfiguration()
	conf.ICEServers = iceServers(servers)
	err := p.Conn().SetConfiguration(conf)
	restart := err == nil && !p.closed && !p.polite && relayed(p.Conn())
	p.mu.Unlock()
	if err != nil {
		p.room.cfg.Logger.Debug("call: new ICE servers refused", "peer", p.ID, "err", err)
	}
	if restart {
		p.offer(true)
	}
}

// relayed reports whether pc's selected candidate pair goes through a
// TURN relay on either side.
func relayed(pc *webrtc.PeerConnection) bool {
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil {
		return false
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	return err == nil && pair != nil && (pair.Local.Typ == webrtc.ICECandidateTypeRelay || pair.Remote.Typ == webrtc.ICECandidateTypeRelay)
}

func (p *Peer) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.Conn().Close()
}

// iceServers converts the signaling client's list for pion.
func iceServers(servers []client.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(servers))
	for _, s := range servers {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}
