package main

// The PeerJS server's protocol (npm package `peer`), so that the same
// relay and burst workloads can be measured against it: a client opens
// ws://host/peerjs?key=KEY&id=ID&token=TOKEN and gets {"type":"OPEN"};
// {"type":"OFFER","dst":ID,"payload":{...}} reaches ID as
// {"type":"OFFER","src":...,"dst":...,"payload":{...}}. There are no rooms:
// peers address each other by the ids they chose.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// Protocols the WebSocket relay speaks.
const (
	protocolSwitchboard = "switchboard"
	protocolPeerJS      = "peerjs"
)

// peerjsKey is the PeerJS server's default key.
const peerjsKey = "peerjs"

var peerjsOfferPrefix = []byte(`{"type":"OFFER",`)

// minPeerJSSize leaves room for the PeerJS envelope around the SDP.
const minPeerJSSize = 512

// peerjsOffer is an OFFER to peer "to" shaped like a PeerJS client's
// media offer, exactly size bytes of JSON.
func peerjsOffer(to string, size int) (payload []byte, stampAt int) {
	return sdpPayload(`{"type":"OFFER","dst":"`+to+`","payload":{"type":"media","connectionId":"mc_sbload","sdp":{"type":"offer","sdp":"`,
		`"}}}`, size)
}

// peerjsRun names this run's peers apart from any other run's on the same
// server.
var peerjsRun = rand.Text()[:8]

// connectPeerJS opens a PeerJS client connection as peer i.k of this run
// and waits for OPEN; it returns the connection and the peer's id.
func connectPeerJS(ctx context.Context, d *websocket.Dialer, base string, i, k int, cfg *config) (*websocket.Conn, string, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	id := "sb" + peerjsRun + "-" + strconv.Itoa(i) + "-" + strconv.Itoa(k)
	q := url.Values{"key": {peerjsKey}, "id": {id}, "token": {rand.Text()}}
	ws, _, err := d.DialContext(ctx, base+"?"+q.Encode(), nil)
	if err != nil {
		return nil, "", fmt.Errorf("dial: %w", err)
	}
	deadline, _ := ctx.Deadline()
	_ = ws.SetReadDeadline(deadline)
	_, b, err := ws.ReadMessage()
	if err == nil {
		var f struct{ Type string }
		switch err = json.Unmarshal(b, &f); {
		case err != nil:
			err = fmt.Errorf("%w: %v", errBadFrame, err)
		case f.Type != "OPEN":
			err = fmt.Errorf("%w: %.200s", errServer, b)
		}
	}
	if err != nil {
		ws.Close()
		return nil, "", fmt.Errorf("waiting for OPEN: %w", err)
	}
	_ = ws.NetConn().SetDeadline(time.Time{})
	return ws, id, nil
}
