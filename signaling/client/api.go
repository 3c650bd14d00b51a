package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// outFrame is a request as sent; fields in the protocol's spelling.
type outFrame struct {
	Type      string           `json:"type"`
	Room      string           `json:"room,omitempty"`
	Name      string           `json:"name,omitempty"`
	Token     string           `json:"token,omitempty"`
	To        string           `json:"to,omitempty"`
	SDP       string           `json:"sdp,omitempty"`
	Candidate *json.RawMessage `json:"candidate,omitempty"` // "null" is the end of candidates
	Data      json.RawMessage  `json:"data,omitempty"`
	Relay     bool             `json:"relay,omitempty"`
	ID        int              `json:"id,omitempty"`
}

// JoinOptions go with a join.
type JoinOptions struct {
	// Name is the display name peers see (a join token's name wins).
	Name string
	// Token is the join token of a server started with -join-secret.
	Token string
	// TokenFunc, when set, is asked for a fresh join token before every
	// join of the room, including the client's own rejoins after a new
	// session (a short-lived token may have expired by then). It runs on
	// the client's goroutine: mint locally or return a cached token,
	// don't block.
	TokenFunc func(room string) (string, error)
}

type joinTarget struct {
	room string
	opts JoinOptions
}

type joinResult struct {
	joined *Joined
	err    error
}

// Join joins room, and joins it again in every new session until Leave.
// It returns the joined frame, or the server's refusal as an *Error
// (bad_room, room_full, unauthorized…).
func (c *Client) Join(ctx context.Context, room string, opts JoinOptions) (*Joined, error) {
	res := make(chan joinResult, 1)
	err := c.exec(func() {
		if c.room != "" {
			res <- joinResult{err: &Error{Code: wire.CodeAlreadyInRoom, Message: "already in room " + c.room + ": leave first"}}
			return
		}
		c.rejectJoinWaiters(ErrLeft) // a Join for another room replaces the earlier one
		c.target = &joinTarget{room: room, opts: opts}
		c.joinWaiters = append(c.joinWaiters, res)
		if c.ready && c.sess != nil && !c.joinSent {
			c.sendJoin()
		}
	})
	if err != nil {
		return nil, err
	}
	select {
	case r := <-res:
		return r.joined, r.err
	case <-ctx.Done():
		_ = c.exec(func() {
			if c.target != nil && c.target.room == room && c.room == "" {
				c.target = nil
			}
		})
		return nil, context.Cause(ctx)
	case <-c.done:
		return nil, ErrClosed
	}
}

// Leave leaves the room (and stops rejoining it).
func (c *Client) Leave(ctx context.Context) error {
	res := make(chan error, 1)
	var id int
	err := c.exec(func() {
		c.target = nil
		c.rejectJoinWaiters(ErrLeft)
		if c.sess == nil || c.room == "" {
			res <- nil
			return
		}
		c.request(outFrame{Type: wire.TypeLeave}, func(_ *frame, err error) { res <- err })
		id = c.nextID
	})
	if err != nil {
		return err
	}
	return c.await(ctx, res, id)
}

// await waits for a request's reply within ctx and RequestTimeout.
func (c *Client) await(ctx context.Context, res chan error, id int) error {
	ctx, cancel := context.WithTimeoutCause(ctx, c.opts.RequestTimeout, ErrTimeout)
	defer cancel()
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		_ = c.exec(func() { c.forget(id) })
		return context.Cause(ctx)
	case <-c.done:
		return ErrClosed
	}
}

// Echo asks the server's echo peer into the room (a pre-call test,
// docs/protocol.md): it joins as a peer that answers this session's
// offer. relay makes it gather relay candidates only. Refusals come as an
// *Error with code echo_off or echo_busy.
func (c *Client) Echo(ctx context.Context, relay bool) error {
	return c.Request(ctx, outFrame{Type: wire.TypeEcho, Relay: relay})
}

// Ping asks for a pong: it returns once the server has answered.
func (c *Client) Ping(ctx context.Context) error {
	return c.Request(ctx, outFrame{Type: wire.TypePing})
}

// Request sends req (any value that encodes as a request object
// without id) with a fresh id and waits for its reply: nil, or the
// error frame it earned as an *Error.
func (c *Client) Request(ctx context.Context, req any) error {
	f, ok := req.(outFrame)
	if !ok {
		b, err := json.Marshal(req)
		if err == nil {
			err = json.Unmarshal(b, &f)
		}
		if err != nil || f.Type == "" {
			return fmt.Errorf("%w: request is no object with a type (%v)", errBadOptions, err)
		}
	}
	res := make(chan error, 1)
	var id int
	err := c.exec(func() {
		c.request(f, func(_ *frame, err error) { res <- err })
		id = c.nextID
	})
	if err != nil {
		return err
	}
	return c.await(ctx, res, id)
}

// SendOffer sends an offer to peer to.
func (c *Client) SendOffer(to, sdp string) error {
	return c.send(outFrame{Type: wire.TypeOffer, To: to, SDP: sdp})
}

// SendAnswer sends an answer to peer to.
func (c *Client) SendAnswer(to, sdp string) error {
	return c.send(outFrame{Type: wire.TypeAnswer, To: to, SDP: sdp})
}

// SendCandidate sends an ICE candidate to peer to; nil is the end of
// candidates.
func (c *Client) SendCandidate(to string, cand *CandidateInit) error {
	raw := json.RawMessage("null")
	if cand != nil {
		b, err := json.Marshal(cand)
		if err != nil {
			return err
		}
		raw = b
	}
	return c.send(outFrame{Type: wire.TypeCandidate, To: to, Candidate: &raw})
}

// SendMessage sends data (any JSON value) to peer to, or to the whole
// room but this session when to is "".
func (c *Client) SendMessage(to string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return c.send(outFrame{Type: wire.TypeMessage, To: to, Data: b})
}

// send queues one frame, paced under the rate limit. While no channel is
// up it waits for the resume, and it is dropped if a new session starts.
// Errors the server finds with it come as ErrorEvent.
func (c *Client) send(f outFrame) error {
	text, err := json.Marshal(f)
	if err != nil {
		return err
	}
	res := make(chan error, 1)
	if err := c.exec(func() { res <- c.enqueue(text) }); err != nil {
		return err
	}
	return <-res
}

// codeOf is err's protocol code, or "client" for the client's own.
func codeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "client"
}
