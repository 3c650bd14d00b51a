package call

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/signaling/client"
)

// Config of a call.
type Config struct {
	// Configuration of every peer connection; its ICEServers are replaced
	// by the signaling client's (welcome, the room's relay, renewals).
	Configuration webrtc.Configuration
	// API makes the peer connections; nil uses pion's defaults.
	API *webrtc.API
	// Setup adds what this program sends (tracks, data channels) and its
	// handlers (OnTrack, OnDataChannel) to a new peer connection
	// (p.Conn()). An error drops that peer. Nil sends nothing and
	// receives audio and video.
	Setup func(p *Peer) error
	// DataOnly offers no receive-only audio and video when this side
	// calls and sends none: a data channel alone is negotiated.
	DataOnly bool
	// CallNewcomers makes this side call peers that join after it too,
	// instead of waiting for their offer (the page waits). Both sides
	// then offer at once, which perfect negotiation settles.
	CallNewcomers bool
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// leaveWait bounds Close's wait for the server's left.
const leaveWait = 5 * time.Second

// Room is a call in one room: a peer connection per peer.
type Room struct {
	c      *client.Client
	cfg    Config
	name   string
	events chan client.Event
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	mu    sync.Mutex
	peers map[string]*Peer
}

// Join joins room on c and calls its peers, and those who join later
// when they call. The room reads c.Events() from now on: read every
// event from Room.Events() instead (the room stalls, like the client,
// while they are not read). Close the room before the client.
func Join(ctx context.Context, c *client.Client, room string, opts client.JoinOptions, cfg Config) (*Room, error) {
	if c == nil {
		return nil, errNoClient
	}
	if cfg.API == nil {
		cfg.API = webrtc.NewAPI()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Room{c: c, cfg: cfg, name: room, events: make(chan client.Event, 16), stop: make(chan struct{}),
		done: make(chan struct{}), peers: map[string]*Peer{}}
	go r.run()
	if _, err := c.Join(ctx, room, opts); err != nil {
		r.shutdown()
		return nil, err
	}
	return r, nil
}

// Events delivers every event of the client, after the room has acted
// on it; closed when the room or the client ends.
func (r *Room) Events() <-chan client.Event { return r.events }

// Client is the signaling client the room runs on.
func (r *Room) Client() *client.Client { return r.c }

// Peers are the peer connections of the room now.
func (r *Room) Peers() []*Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Peer, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, p)
	}
	return out
}

// Peer returns the peer connection with peer id, or nil.
func (r *Room) Peer(id string) *Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peers[id]
}

// Close leaves the room and closes every peer connection. The client
// stays open: read its Events again from here on.
func (r *Room) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), leaveWait)
	defer cancel()
	err := r.c.Leave(ctx)
	r.shutdown()
	return err
}

func (r *Room) shutdown() {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	r.closePeers()
}

func (r *Room) run() {
	defer close(r.done)
	defer close(r.events)
	for {
		select {
		case ev, ok := <-r.c.Events():
			if !ok {
				r.closePeers()
				return
			}
			r.handle(ev)
			select {
			case r.events <- ev:
			case <-r.stop:
				return
			}
		case <-r.stop:
			return
		}
	}
}

func (r *Room) handle(ev client.Event) {
	switch ev := ev.(type) {
	case client.Joined:
		if ev.Room != r.name {
			return
		}
		// The newcomer calls: everyone in the list waits for our offer.
		for _, p := range ev.Peers {
			r.peer(p, true)
		}
	case client.PeerJoined:
		if r.cfg.CallNewcomers {
			r.peer(ev.Peer, true)
		}
	case client.Offer:
		if p := r.peer(client.Peer{ID: ev.From}, false); p != nil {
			p.description(webrtc.SDPTypeOffer, ev.SDP)
		}
	case client.Answer:
		if p := r.Peer(ev.From); p != nil {
			p.description(webrtc.SDPTypeAnswer, ev.SDP)
		}
	case client.Candidate:
		if p := r.Peer(ev.From); p != nil {
			p.candidate(ev.Candidate)
		}
	case client.PeerLeft:
		r.drop(ev.Peer.ID)
	case client.ResumeFailed, client.Left:
		// The session (or the room) is gone: so are its calls. A rejoin
		// lists the peers again and calls them anew.
		r.closePeers()
	case client.ICEServersChanged:
		for _, p := range r.Peers() {
			p.setICEServers(ev.ICEServers)
		}
	}
}

// peer returns the peer connection to info.ID, making it when there is
// none; initiator makes this side call.
func (r *Room) peer(info client.Peer, initiator bool) *Peer {
	r.mu.Lock()
	p := r.peers[info.ID]
	r.mu.Unlock()
	if p != nil {
		return p
	}
	p, err := newPeer(r, info)
	if err != nil {
		r.cfg.Logger.Warn("call: peer connection not made", "peer", info.ID, "err", err)
		return nil
	}
	r.mu.Lock()
	r.peers[info.ID] = p
	r.mu.Unlock()
	if initiator {
		p.start()
	}
	return p
}

func (r *Room) drop(id string) {
	r.mu.Lock()
	p := r.peers[id]
	delete(r.peers, id)
	r.mu.Unlock()
	if p != nil {
		p.close()
	}
}

func (r *Room) closePeers() {
	r.mu.Lock()
	peers := r.peers
	r.peers = map[string]*Peer{}
	r.mu.Unlock()
	for _, p := range peers {
		p.close()
	}
}
