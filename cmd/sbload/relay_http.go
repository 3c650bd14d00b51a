package main

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strconv"
	"time"
)

// maxReopens bounds how often one relay peer reopens an SSE stream the
// server ended at its maximum age (30 s by default).
const maxReopens = 100

// httpRelayPeer is one peer of a pair over SSE or long-polling; offers go
// up by POST /v1/send, several to a request when the window allows.
type httpRelayPeer struct {
	relayStats
	ctx    context.Context
	sess   *httpSession
	offers *postBatch
	errs   *errorLog
}

func (p *httpRelayPeer) stats() *relayStats { return &p.relayStats }

// send posts k offers in as few requests as the server's limits allow.
// An offer the server refuses is counted by its code; it will also count
// as lost.
func (p *httpRelayPeer) send(k int, ts int64) error {
	for k > 0 {
		n := min(k, p.offers.max)
		err := p.sess.post(p.ctx, p.offers.stamp(n, ts), time.Time{})
		var se *sendError
		if errors.As(err, &se) {
			p.errs.add("server:"+se.code, err)
		} else if err != nil {
			return err
		}
		k -= n
	}
	return nil
}

// read receives until the channel ends; an SSE stream the server ends at
// its maximum age is reopened where it stopped, as EventSource does.
func (p *httpRelayPeer) read(ph phases, errs *errorLog) {
	defer close(p.done)
	for reopens := 0; ; {
		msg, _, err := p.sess.next()
		if err == nil {
			if !p.closing.Load() { // not the server's notice of our bye
				t := now()
				p.received(msg, t, t, ph, errs)
			}
			continue
		}
		if p.closing.Load() {
			return
		}
		if errors.Is(err, io.EOF) && reopens < maxReopens {
			reopens++
			ctx, cancel := context.WithTimeout(p.ctx, closeWait)
			err = p.sess.reopen(ctx)
			cancel()
			if err == nil {
				continue
			}
		}
		if !p.closing.Load() {
			errs.add("read", err)
		}
		return
	}
}

// baseURL is the scheme and host of the server's HTTP endpoints.
func baseURL(cfg *config) *url.URL {
	u, _ := url.Parse(cfg.endpoint("/")) // validated
	return u
}

// setupHTTPPairs opens and joins the pairs; a pair that fails is counted
// and left out. It returns the peers with partners next to each other.
func setupHTTPPairs(ctx context.Context, cfg *config, errs *errorLog) ([]*httpRelayPeer, error) {
	base := baseURL(cfg)
	if base.Scheme != "http" {
		return nil, errConfig
	}
	pairs := make([][2]*httpRelayPeer, cfg.Pairs)
	forEach(ctx, cfg.Pairs, max(1, cfg.DialConcurrency/2), func(i int) {
		room := "relay-" + strconv.Itoa(i)
		var pair [2]*httpRelayPeer
		for k := range pair {
			s, err := newHTTPSession(ctx, base, cfg.Transport, room, cfg.DialTimeout)
			if err != nil {
				errs.add("setup", err)
				for _, p := range pair[:k] {
					p.sess.close()
					p.sess.dropUp()
				}
				return
			}
			pair[k] = &httpRelayPeer{relayStats: newRelayStats(cfg.Window), ctx: ctx, sess: s, errs: errs}
		}
		a, b := pair[0], pair[1]
		pairUp(&a.relayStats, &b.relayStats)
		a.offers = newPostBatch(b.sess.id, cfg.Size, cfg.Window)
		b.offers = newPostBatch(a.sess.id, cfg.Size, cfg.Window)
		pairs[i] = pair
	})
	var peers []*httpRelayPeer
	for _, pair := range pairs {
		if pair[0] != nil {
			peers = append(peers, pair[0], pair[1])
		}
	}
	return peers, nil
}

// closeHTTP ends every session with a bye, waits for the readers a
// bounded time, then drops the connections. The senders have returned.
func closeHTTP(peers []*httpRelayPeer) {
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	for _, p := range peers {
		p.closing.Store(true)
	}
	forEach(ctx, len(peers), 16, func(i int) { _ = peers[i].sess.bye(ctx) })
	deadline := time.NewTimer(closeWait)
	defer deadline.Stop()
wait:
	for _, p := range peers {
		select {
		case <-p.done:
		case <-deadline.C:
			break wait
		}
	}
	for _, p := range peers {
		p.sess.close()
		p.sess.dropUp()
	}
	for _, p := range peers {
		<-p.done
	}
}

// postBatch holds the body of a POST /v1/send of up to max offers: an
// array whose first k elements are sent by closing it after the k-th.
type postBatch struct {
	buf     []byte // "[" offer "," offer "," … offer ","
	one     int    // bytes per offer and its separator
	stampAt int
	end     int // index of the separator turned into "]", 0 if none
	max     int
}

// maxPostBody is the server's default message size limit, which applies
// to a POST body as a whole; maxPostMessages its cap per request.
const (
	maxPostBody     = 64 << 10
	maxPostMessages = 256
)

func newPostBatch(to string, size, window int) *postBatch {
	payload, stampAt := offerPayload(to, size)
	n := max(1, min(window, maxPostMessages, (maxPostBody-1)/(size+1)))
	b := &postBatch{one: len(payload) + 1, stampAt: stampAt, max: n}
	b.buf = append(b.buf, '[')
	for range n {
		b.buf = append(append(b.buf, payload...), ',')
	}
	return b
}

// stamp writes ts into the first k offers and returns the body holding
// them.
func (b *postBatch) stamp(k int, ts int64) []byte {
	var digits [stampDigits]byte
	v := uint64(ts)
	for i := stampDigits - 1; i >= 0; i-- {
		digits[i] = byte('0' + v%10)
		v /= 10
	}
	for f := range k {
		copy(b.buf[1+f*b.one+b.stampAt:], digits[:])
	}
	if b.end > 0 {
		b.buf[b.end] = ','
	}
	b.end = k * b.one
	b.buf[b.end] = ']'
	return b.buf[:b.end+1]
}
