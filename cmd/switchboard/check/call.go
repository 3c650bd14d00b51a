package check

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// checkCall makes the call a browser would, relay-only, and times a data
// channel round trip. With the server's echo peer (-echo) it calls that,
// as the page's pre-call test does; otherwise two pion/webrtc peers of
// its own join one fresh room and call each other. Either way it proves
// the whole path: signaling relays, credentials the relay accepts, relay
// addresses reachable, and the relay letting allocations talk.
func checkCall(ctx context.Context, cfg Config, u *url.URL, relays turnSummary) Result {
	ctx, cancel := context.WithTimeout(ctx, 3*cfg.Timeout)
	defer cancel()
	start := time.Now()
	name := "Relay-only call to the echo peer"
	rtt, err := callEcho(ctx, cfg, u)
	if errors.Is(err, errEchoOff) || errors.Is(err, errEchoBusy) {
		name = "Relay-only call between two peers"
		rtt, err = callPair(ctx, cfg, u)
	}
	if err != nil {
		return fail(name, relays.callHint(), "%v", err)
	}
	return pass(name, "connected through TURN in %s; data channel round trip %s", roundMS(time.Since(start)), rtt.Round(10*time.Microsecond))
}

// peer is one side of the call.
type peer struct {
	sig     sigConn
	sendMu  sync.Mutex
	id      string
	other   string
	pc      *webrtc.PeerConnection
	mu      sync.Mutex
	pending []webrtc.ICECandidateInit // before the remote description
}

func (p *peer) send(msg map[string]any) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return p.sig.send(msg)
}

func (p *peer) close() {
	if p.pc != nil {
		_ = p.pc.Close()
	}
	if p.sig != nil {
		_ = p.send(map[string]any{"type": "bye"})
		p.sig.close()
	}
}

// joinPeer opens a session in room (openRoom) and makes a relay-only
// peer connection, with the TURN credentials of its joined event, that
// sends its candidates to p.other once that is set.
func joinPeer(ctx context.Context, cfg Config, u *url.URL, room string) (*peer, error) {
	p := &peer{}
	var servers []iceServer
	var err error
	if p.sig, p.id, servers, err = openRoom(ctx, cfg, u, room); err != nil {
		return nil, err
	}
	if p.pc, err = webrtc.NewPeerConnection(webrtc.Configuration{ICEServers: webrtcServers(servers), ICETransportPolicy: webrtc.ICETransportPolicyRelay}); err != nil {
		p.close()
		return nil, err
	}
	p.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			_ = p.send(map[string]any{"type": "candidate", "to": p.other, "candidate": c.ToJSON()})
		}
	})
	return p, nil
}

// openRoom opens a session (WebSocket, else polling) and joins room. It
// returns the session's ICE servers from the joined event: TURN
// credentials are handed out only to a session in a room.
func openRoom(ctx context.Context, cfg Config, u *url.URL, room string) (sig sigConn, id string, servers []iceServer, err error) {
	sig, w, err := openWS(ctx, cfg, u)
	if err != nil {
		if sig, w, err = openPoll(ctx, cfg, u); err != nil {
			return nil, "", nil, fmt.Errorf("signaling: %w", err)
		}
	}
	join := map[string]any{"type": "join", "room": room, "name": "check", "id": 1}
	if cfg.JoinToken != "" {
		join["token"] = cfg.JoinToken
	}
	var raw json.RawMessage
	if err = sig.send(join); err == nil {
		raw, err = expect(ctx, sig, "joined")
	}
	var joined struct {
		ICEServers []iceServer `json:"iceServers"`
	}
	if err == nil {
		err = json.Unmarshal(raw, &joined)
	}
	if err != nil {
		_ = sig.send(map[string]any{"type": "bye"})
		sig.close()
		return nil, "", nil, fmt.Errorf("join: %w", err)
	}
	return sig, w.Session, joined.ICEServers, nil
}

// roomServers are the ICE servers a session gets once in a room (a fresh
// one of its own, left at once): what a call would use.
func roomServers(ctx context.Context, cfg Config, u *url.URL) ([]iceServer, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	sig, _, servers, err := openRoom(ctx, cfg, u, randomRoom())
	if err != nil {
		return nil, err
	}
	_ = sig.send(map[string]any{"type": "bye"})
	sig.close()
	return servers, nil
}

func randomRoom() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "switchboard-check-" + hex.EncodeToString(b)
}

func webrtcServers(servers []iceServer) []webrtc.ICEServer {
	var ice []webrtc.ICEServer
	for _, s := range servers {
		ice = append(ice, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return ice
}

// callEcho calls the server's echo peer; errEchoOff when it runs none.
func callEcho(ctx context.Context, cfg Config, u *url.URL) (time.Duration, error) {
	a, err := joinPeer(ctx, cfg, u, randomRoom())
	if err != nil {
		return 0, err
	}
	defer a.close()
	var refused *serverError
	if err := a.send(map[string]any{"type": "echo", "relay": true, "id": 2}); errors.As(err, &refused) {
		return 0, echoRefusal(refused.Code, refused.Message) // said at once over polling; over WebSocket it comes as an event
	} else if err != nil {
		return 0, err
	}
	for a.other == "" {
		raw, err := a.sig.recv(ctx)
		if err != nil {
			return 0, fmt.Errorf("echo: %w", err)
		}
		var m struct {
			Type, Code, Message string
			Peer                struct{ ID string }
		}
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		switch {
		case m.Type == "error":
			return 0, echoRefusal(m.Code, m.Message)
		case m.Type == "peer-joined":
			a.other = m.Peer.ID
		}
	}
	return dial(ctx, cfg, a, nil)
}

// echoRefusal names why the server would not start its echo peer:
// without one (or with all of them busy) the check calls between two
// peers of its own instead.
func echoRefusal(code, message string) error {
	switch code {
	case "echo_off":
		return errEchoOff
	case "echo_busy":
		return errEchoBusy
	}
	return fmt.Errorf("echo: %s: %s", code, message)
}

// callPair calls between two peers of the check's own.
func callPair(ctx context.Context, cfg Config, u *url.URL) (time.Duration, error) {
	room := randomRoom()
	a, err := joinPeer(ctx, cfg, u, room)
	if err != nil {
		return 0, err
	}
	defer a.close()
	b, err := joinPeer(ctx, cfg, u, room)
	if err != nil {
		return 0, err
	}
	defer b.close()
	a.other, b.other = b.id, a.id
	b.pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) { _ = dc.Send(m.Data) })
	})
	return dial(ctx, cfg, a, b)
}

// dial offers from a to a.other (whose side b serves, when it is ours),
// waits for the data channel and returns the median of ten round trips.
func dial(ctx context.Context, cfg Config, a, b *peer) (time.Duration, error) {
	echoed := make(chan []byte, 16)
	dc, err := a.pc.CreateDataChannel("check", nil)
	if err != nil {
		return 0, err
	}
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		select {
		case echoed <- m.Data:
		default:
		}
	})
	errs := make(chan error, 2)
	for _, p := range []*peer{a, b} {
		if p != nil {
			go func() { errs <- p.serve(ctx) }()
		}
	}
	offer, err := a.pc.CreateOffer(nil)
	if err != nil {
		return 0, err
	}
	if err := a.pc.SetLocalDescription(offer); err != nil {
		return 0, err
	}
	if err := a.send(map[string]any{"type": "offer", "to": a.other, "sdp": offer.SDP}); err != nil {
		return 0, err
	}
	select {
	case <-opened:
	case err := <-errs:
		if err == nil { // a reader ended with the deadline
			err = fmt.Errorf("%w within %s (ICE %s)", errNotConnected, roundS(3*cfg.Timeout), a.pc.ICEConnectionState())
		}
		return 0, err
	case <-ctx.Done():
		return 0, fmt.Errorf("%w within %s (ICE %s)", errNotConnected, roundS(3*cfg.Timeout), a.pc.ICEConnectionState())
	}
	var rtts []time.Duration
	for i := range 10 {
		sent := time.Now()
		if err := dc.SendText(fmt.Sprint(i)); err != nil {
			return 0, err
		}
		select {
		case <-echoed:
			rtts = append(rtts, time.Since(sent))
		case <-ctx.Done():
			return 0, fmt.Errorf("data channel echo %d lost", i)
		}
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2], nil
}

// serve handles what the server relays to p until ctx ends.
func (p *peer) serve(ctx context.Context) error {
	for {
		raw, err := p.sig.recv(ctx)
		if err != nil {
			if ctx.Err() != nil || isTimeout(err) { // the read deadline is ctx's
				return nil
			}
			return fmt.Errorf("signaling: %w", err)
		}
		var m struct {
			Type      string                   `json:"type"`
			SDP       string                   `json:"sdp"`
			Candidate *webrtc.ICECandidateInit `json:"candidate"`
			Code      string                   `json:"code"`
			Message   string                   `json:"message"`
		}
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		switch m.Type {
		case "offer":
			if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
				return err
			}
			p.flushCandidates()
			answer, err := p.pc.CreateAnswer(nil)
			if err != nil {
				return err
			}
			if err := p.pc.SetLocalDescription(answer); err != nil {
				return err
			}
			if err := p.send(map[string]any{"type": "answer", "to": p.other, "sdp": answer.SDP}); err != nil {
				return err
			}
		case "answer":
			if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
				return err
			}
			p.flushCandidates()
		case "candidate":
			if m.Candidate != nil {
				p.addCandidate(*m.Candidate)
			}
		case "error":
			return fmt.Errorf("server error %s: %s", m.Code, m.Message)
		}
	}
}

func (p *peer) addCandidate(c webrtc.ICECandidateInit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pc.RemoteDescription() == nil {
		p.pending = append(p.pending, c)
		return
	}
	_ = p.pc.AddICECandidate(c)
}

func (p *peer) flushCandidates() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.pending {
		_ = p.pc.AddICECandidate(c)
	}
	p.pending = nil
}

// expect reads events until one of type want, which it returns, or an
// error event.
func expect(ctx context.Context, c sigConn, want string) (json.RawMessage, error) {
	for {
		raw, err := c.recv(ctx)
		if err != nil {
			return nil, err
		}
		var m struct{ Type, Code, Message string }
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		switch m.Type {
		case want:
			return raw, nil
		case "error":
			return nil, fmt.Errorf("%s: %s", m.Code, m.Message)
		}
	}
}
