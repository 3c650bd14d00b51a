package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// relayReadBuffer is large so that one read syscall picks up several
// relayed offers when they queue up.
const relayReadBuffer = 16 << 10

// relayPeer is one WebSocket peer of a pair.
type relayPeer struct {
	relayStats
	ws        *websocket.Conn
	w         *rawWriter
	id        string
	offers    *offerBatch
	gw        *gorillaSender // with -client gorilla: writes and reads go through gorilla
	closeSent atomic.Bool    // a close frame has been written
}

func (p *relayPeer) stats() *relayStats { return &p.relayStats }

func (p *relayPeer) send(k int, ts int64) error {
	if p.gw != nil {
		return p.gw.send(k, ts)
	}
	return p.w.write(p.offers.stamp(k, ts))
}

// control writes a control frame through whichever writer the client
// kind uses, so that it never interleaves with an offer.
func (p *relayPeer) control(op byte, data []byte) error {
	if p.gw != nil {
		return p.gw.control(int(op), data)
	}
	return p.w.control(op, data)
}

// setupPairs connects and joins the pairs; a pair that fails is counted
// and left out. It returns the peers with partners next to each other.
func setupPairs(ctx context.Context, cfg *config, errs *errorLog) []*relayPeer {
	d := newDialer(relayReadBuffer, cfg.DialTimeout)
	d.NetDialContext = dialStamped // offers' arrival latency (see rxConn)
	if cfg.Client == clientGorilla {
		d = newGorillaDialer(cfg.DialTimeout)
	}
	pairs := make([][2]*relayPeer, cfg.Pairs)
	forEach(ctx, cfg.Pairs, max(1, cfg.DialConcurrency/2), func(i int) {
		room := "relay-" + strconv.Itoa(i)
		var pair [2]*relayPeer
		for k := range pair {
			u := cfg.URL
			if k == 1 && cfg.PeerURL != "" {
				u = cfg.PeerURL
			}
			var ws *websocket.Conn
			var id string
			var err error
			if cfg.Protocol == protocolPeerJS {
				ws, id, err = connectPeerJS(ctx, d, u, i, k, cfg)
			} else {
				var welcome setupFrame
				ws, welcome, err = connect(ctx, d, u, room, cfg.DialTimeout)
				id = welcome.Session
			}
			if err != nil {
				errs.add("setup", err)
				for _, p := range pair[:k] {
					p.ws.Close()
				}
				return
			}
			pair[k] = &relayPeer{relayStats: newRelayStats(cfg.Window), ws: ws, w: newRawWriter(ws.NetConn()), id: id}
		}
		a, b := pair[0], pair[1]
		pairUp(&a.relayStats, &b.relayStats)
		a.offers, b.offers = newProtocolBatch(cfg, b.id, a.w.key), newProtocolBatch(cfg, a.id, b.w.key)
		if cfg.Protocol == protocolPeerJS {
			a.prefix, b.prefix = peerjsOfferPrefix, peerjsOfferPrefix
		}
		if cfg.Client == clientGorilla {
			a.gw, b.gw = newGorillaSender(a.ws, cfg, b.id), newGorillaSender(b.ws, cfg, a.id)
		}
		for _, p := range pair {
			p.ws.SetPingHandler(func(data string) error {
				_ = p.control(opPong, []byte(data))
				return nil
			})
			p.ws.SetCloseHandler(func(code int, text string) error {
				if !p.closing.Load() {
					errs.add("closed", fmt.Errorf("server closed the connection: %d %s", code, text))
				}
				if !p.closeSent.Swap(true) {
					_ = p.control(opClose, websocket.FormatCloseMessage(code, ""))
				}
				return nil
			})
		}
		pairs[i] = pair
	})
	var peers []*relayPeer
	for _, pair := range pairs {
		if pair[0] != nil {
			peers = append(peers, pair[0], pair[1])
		}
	}
	return peers
}

// newProtocolBatch is a window of offers to peer "to" in cfg's protocol.
func newProtocolBatch(cfg *config, to string, key [4]byte) *offerBatch {
	payload, stampAt := protocolOffer(cfg, to)
	return maskedBatch(payload, stampAt, cfg.Window, key)
}

// protocolOffer is an offer to peer "to" in cfg's protocol, unmasked, and
// the offset of its timestamp digits.
func protocolOffer(cfg *config, to string) (payload []byte, stampAt int) {
	if cfg.Protocol == protocolPeerJS {
		return peerjsOffer(to, cfg.Size)
	}
	return offerPayload(to, cfg.Size)
}

// read receives until the connection ends.
func (p *relayPeer) read(ph phases, errs *errorLog) {
	if p.gw != nil {
		p.readParsed(ph, errs)
		return
	}
	defer close(p.done)
	buf := make([]byte, 0, 4096)
	for {
		_, r, err := p.ws.NextReader()
		if err != nil {
			p.readEnded(err, errs)
			return
		}
		if buf, err = readFrame(r, buf); err != nil {
			p.readEnded(err, errs)
			return
		}
		t := now()
		p.received(buf, t, arrival(p.ws.NetConn(), t), ph, errs)
	}
}

// readEnded counts a read error unless this tool was closing the
// connection; a close frame from the server was counted by the close
// handler.
func (p *relayPeer) readEnded(err error, errs *errorLog) {
	var ce *websocket.CloseError
	if p.closing.Load() || errors.As(err, &ce) {
		return
	}
	errs.add("read", err)
}

// closeWS runs the closing handshake on every peer that has not had it,
// waits for the readers a bounded time, then drops the sockets.
func closeWS(peers []*relayPeer) {
	for _, p := range peers {
		p.closing.Store(true)
		if !p.closeSent.Swap(true) {
			_ = p.ws.NetConn().SetWriteDeadline(time.Now().Add(closeWait))
			_ = p.control(opClose, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		}
	}
	deadline := time.NewTimer(closeWait)
	defer deadline.Stop()
	for _, p := range peers {
		select {
		case <-p.done:
		case <-deadline.C:
			for _, p := range peers {
				p.ws.Close()
			}
			return
		}
	}
	for _, p := range peers {
		p.ws.Close()
	}
}
