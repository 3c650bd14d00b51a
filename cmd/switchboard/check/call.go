package check

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/signaling/client"
	"github.com/switchboard-rtc/switchboard/signaling/client/call"
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

// caller is one side of the call: a signaling client (WebSocket, else
// polling) in the room and its relay-only calls.
type caller struct {
	c      *client.Client
	room   *call.Room
	opened chan *webrtc.DataChannel // the measuring side's data channel, once open
}

// joinCaller joins room; setup is the call's (see call.Config).
func joinCaller(ctx context.Context, cfg Config, u *url.URL, room string, callNewcomers bool, setup func(*caller, *call.Peer) error) (*caller, error) {
	opts := clientOptions(cfg, client.WebSocket, client.Poll)
	opts.DialAttempts, opts.FallbackAfter = 0, 1 // until ctx ends, falling back at once
	c, err := client.Dial(ctx, u.String(), opts)
	if err != nil {
		return nil, fmt.Errorf("signaling: %w", err)
	}
	api, err := peerAPI(cfg) // connects to TURN over TCP give up after cfg.Timeout
	if err != nil {
		c.Close()
		return nil, err
	}
	cl := &caller{c: c, opened: make(chan *webrtc.DataChannel, 1)}
	cl.room, err = call.Join(ctx, c, room, client.JoinOptions{Name: "check", Token: cfg.JoinToken}, call.Config{
		Configuration: webrtc.Configuration{ICETransportPolicy: webrtc.ICETransportPolicyRelay},
		API:           api,
		DataOnly:      true, CallNewcomers: callNewcomers,
		Setup: func(p *call.Peer) error { return setup(cl, p) },
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("join: %w", err)
	}
	go func() {
		for range cl.room.Events() { // the room acts on them
		}
	}()
	return cl, nil
}

func (cl *caller) close() {
	_ = cl.room.Close()
	_ = cl.c.Close()
}

// measure opens the data channel whose round trips are timed.
func measure(cl *caller, p *call.Peer) error {
	dc, err := p.Conn().CreateDataChannel("check", nil)
	if err != nil {
		return err
	}
	dc.OnOpen(func() {
		select {
		case cl.opened <- dc:
		default:
		}
	})
	return nil
}

// echoBack echoes what the other side's data channel sends.
func echoBack(_ *caller, p *call.Peer) error {
	p.Conn().OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) { _ = dc.Send(m.Data) })
	})
	return nil
}

func randomRoom() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "switchboard-check-" + hex.EncodeToString(b)
}

// callEcho calls the server's echo peer; errEchoOff when it runs none.
func callEcho(ctx context.Context, cfg Config, u *url.URL) (time.Duration, error) {
	a, err := joinCaller(ctx, cfg, u, randomRoom(), true, measure) // the echo peer joins after us: call it
	if err != nil {
		return 0, err
	}
	defer a.close()
	var refused *client.Error
	if err := a.c.Echo(ctx, true); errors.As(err, &refused) {
		return 0, echoRefusal(refused.Code, refused.Message)
	} else if err != nil {
		return 0, fmt.Errorf("echo: %w", err)
	}
	return roundTrips(ctx, cfg, a)
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

// callPair calls between two peers of the check's own: b waits in the
// room, a joins and calls it.
func callPair(ctx context.Context, cfg Config, u *url.URL) (time.Duration, error) {
	room := randomRoom()
	b, err := joinCaller(ctx, cfg, u, room, false, echoBack)
	if err != nil {
		return 0, err
	}
	defer b.close()
	a, err := joinCaller(ctx, cfg, u, room, false, measure)
	if err != nil {
		return 0, err
	}
	defer a.close()
	return roundTrips(ctx, cfg, a)
}

// roundTrips waits for a's data channel and returns the median of ten
// round trips.
func roundTrips(ctx context.Context, cfg Config, a *caller) (time.Duration, error) {
	var dc *webrtc.DataChannel
	select {
	case dc = <-a.opened:
	case <-ctx.Done():
		state := "no peer connection"
		if peers := a.room.Peers(); len(peers) > 0 {
			state = peers[0].Conn().ICEConnectionState().String()
		}
		return 0, fmt.Errorf("%w within %s (ICE %s)", errNotConnected, roundS(3*cfg.Timeout), state)
	}
	echoed := make(chan []byte, 16)
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		select {
		case echoed <- m.Data:
		default:
		}
	})
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
