package client_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/client"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// lockstep has from send numbered messages to to, each after to got the
// one before (so none is in flight when the test cuts the network, and
// from never has to send one twice), until enough says so. It fails on
// a number lost or repeated, or a lost session, and returns how many
// Resumed events to saw.
func lockstep(t *testing.T, from, to *client.Client, step func(i, resumes int) (enough bool)) (resumes int) {
	t.Helper()
	session := to.Session()
	timeout := time.After(3 * waitFor)
	for i := 1; ; i++ {
		if err := from.SendMessage(to.Session(), i); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	wait:
		for {
			select {
			case ev, ok := <-to.Events():
				if !ok {
					t.Fatalf("events closed at %d: %v", i, to.Err())
				}
				switch ev := ev.(type) {
				case client.Resumed:
					resumes++
				case client.ResumeFailed:
					t.Fatalf("session lost at %d: %+v", i, ev)
				case client.Message:
					var got int
					if err := json.Unmarshal(ev.Data, &got); err != nil || got != i {
						t.Fatalf("message %s, want %d (nothing lost, nothing twice)", ev.Data, i)
					}
					break wait
				}
			case <-timeout:
				t.Fatalf("stuck at message %d", i)
			}
		}
		if to.Session() != session {
			t.Fatalf("session %s became %s", session, to.Session())
		}
		if step(i, resumes) {
			return resumes
		}
	}
}

// TestResumeAcrossServerEnds: the server ends each channel by itself
// (a WebSocket past -ws-max-age with 4000, an event stream past
// -sse-max-age, a long-poll after -poll-wait) and the network drops
// every connection once, while a peer sends numbered messages: the
// client resumes each time and handles every message once, in order,
// in the same session.
func TestResumeAcrossServerEnds(t *testing.T) {
	ts := startServer(t, signaling.Config{
		WSMaxAge: 300 * time.Millisecond, PingInterval: 100 * time.Millisecond,
		SSEMaxAge: time.Second, PollWait: 100 * time.Millisecond,
	})
	for _, tr := range []client.Transport{client.WebSocket, client.SSE, client.Poll} {
		t.Run(string(tr), func(t *testing.T) {
			net := startProxy(t, ts.url)
			a := dial(t, net.url, fastOptions(tr))
			room := "resume-" + string(tr)
			join(t, a, room)
			// The sender posts: a POST is answered, so nothing it sends
			// is lost. A frame written into a WebSocket the server is
			// closing (4000, every 300 ms here) may be (docs/protocol.md).
			b := dial(t, ts.url, fastOptions(client.Poll))
			join(t, b, room)
			cutAt := 0
			resumes := lockstep(t, b, a, func(i, resumes int) bool {
				if i == 10 {
					net.cut() // a network failure: no close frame, no answer
					cutAt = resumes
				}
				if tr == client.Poll { // a resumed poll says nothing
					return i >= 30
				}
				return i > 10 && resumes > cutAt && resumes >= 2
			})
			t.Logf("%s: %d resumes", tr, resumes)
		})
	}
}

// TestFallbackAndBack: with WebSocket refused (a proxy that does not
// forward upgrades) the client falls back to the next channel
// (server-sent events, or polling when that is the next); once WebSocket
// works again it moves back to it, resuming the session, without losing
// or repeating a message streamed meanwhile.
func TestFallbackAndBack(t *testing.T) {
	for _, fallback := range []client.Transport{client.SSE, client.Poll} {
		t.Run(string(fallback), func(t *testing.T) {
			ts := startServer(t, signaling.Config{})
			ts.noWS.Store(true)
			opts := fastOptions(client.WebSocket, fallback)
			opts.UpgradeAfter = 100 * time.Millisecond
			a := dial(t, ts.url, opts)
			if tr := a.Transport(); tr != fallback {
				t.Fatalf("transport %s with WebSocket refused, want %s", tr, fallback)
			}
			join(t, a, "fallback")
			b := dial(t, ts.url, fastOptions(client.Poll))
			join(t, b, "fallback")
			tried := ts.wsDials.Load()
			lockstep(t, b, a, func(i, _ int) bool {
				switch {
				case ts.noWS.Load() && ts.wsDials.Load() > tried+1:
					ts.noWS.Store(false) // it tried twice on the fallback: let it through now
				case !ts.noWS.Load():
					return a.Transport() == client.WebSocket && i > 20
				}
				return false
			})
			must(t, b.SendMessage(a.Session(), "after"))
			if m := next[client.Message](t, a); string(m.Data) != `"after"` {
				t.Fatalf("message after the move %s", m.Data)
			}
		})
	}
}

// TestServerAwayKeepsTransport: a server that goes away for a while (a
// restart: connections refused, then a proxy answering 502 for its node)
// is no reason to leave WebSocket: the client resumes on it when the
// server is back, however many attempts failed meanwhile.
func TestServerAwayKeepsTransport(t *testing.T) {
	ts := startServer(t, signaling.Config{})
	net := startProxy(t, ts.url)
	opts := fastOptions(client.WebSocket, client.SSE, client.Poll)
	a := dial(t, net.url, opts)
	join(t, a, "away")
	net.down.Store(true)
	net.cut()
	// Several attempts fail (FallbackAfter is 2) while it is away.
	for range 4 {
		nextWhere(t, a, func(e client.StateChanged) bool { return e.State == client.Reconnecting })
	}
	net.down.Store(false)
	if r := next[client.Resumed](t, a); r.Transport != client.WebSocket {
		t.Fatalf("resumed on %s after the server came back, want websocket", r.Transport)
	}
}

// TestResumeFailedRejoins: a client away longer than the grace period
// gets a new session, says so, and joins its room again by itself; its
// peer sees it leave and come back.
func TestResumeFailedRejoins(t *testing.T) {
	ts := startServer(t, signaling.Config{
		ResumeGrace: 200 * time.Millisecond, PingInterval: 100 * time.Millisecond, PongTimeout: 100 * time.Millisecond,
	})
	opts := fastOptions(client.WebSocket)
	opts.BackoffBase, opts.BackoffCap, opts.ResumeBackoffCap = 400*time.Millisecond, 400*time.Millisecond, 400*time.Millisecond
	net := startProxy(t, ts.url)
	a := dial(t, net.url, opts)
	old := a.Session()
	join(t, a, "rejoin")
	b := dial(t, ts.url, fastOptions(client.Poll))
	join(t, b, "rejoin")
	net.down.Store(true)
	net.cut()
	if pl := next[client.PeerLeft](t, b); pl.Peer.ID != old || pl.Reason != wire.PeerLeftLost {
		t.Fatalf("peer-left %+v", pl)
	}
	net.down.Store(false)
	next[client.ResumeFailed](t, a)
	w := next[client.Welcome](t, a)
	if w.Session == old {
		t.Fatal("same session after a failed resume")
	}
	if j := next[client.Joined](t, a); !j.Rejoin || j.Room != "rejoin" {
		t.Fatalf("joined %+v, want a rejoin", j)
	}
	if pj := next[client.PeerJoined](t, b); pj.Peer.ID != w.Session {
		t.Fatalf("peer-joined %+v", pj)
	}
}

// TestSlowReader: a program that does not read its events for a while
// loses none: with a queue of 4 the client stops reading from the server,
// which keeps the rest, and hands over all 80 in order once read.
func TestSlowReader(t *testing.T) {
	ts := startServer(t, signaling.Config{})
	opts := fastOptions(client.WebSocket)
	opts.EventQueue = 4
	a := dial(t, ts.url, opts)
	join(t, a, "slow")
	b := dial(t, ts.url, fastOptions(client.Poll))
	join(t, b, "slow")
	const n = 80 // within the sender's burst: no pacing wait
	for i := 1; i <= n; i++ {
		must(t, b.SendMessage(a.Session(), i))
	}
	must(t, b.Ping(context.Background())) // every message is at the server now
	want := 1
	timeout := time.After(waitFor)
	for want <= n {
		select {
		case ev := <-a.Events():
			if m, ok := ev.(client.Message); ok {
				var got int
				if err := json.Unmarshal(m.Data, &got); err != nil || got != want {
					t.Fatalf("message %s, want %d", m.Data, want)
				}
				want++
			}
		case <-timeout:
			t.Fatalf("stuck at %d", want)
		}
	}
}

// TestUpstreamOnceAcrossDrops: a sender writes numbered messages as fast
// as it may while the server ends its channel (every 200 ms a WebSocket
// with 4000 resume, every second an event stream, a poll at its wait)
// and the network drops it twice. Frames written into a socket that died unread, and POSTs whose
// answer was lost, are sent again, and the server handles only those it
// had not (their cseq says which): the peer gets every message once, in
// order.
func TestUpstreamOnceAcrossDrops(t *testing.T) {
	ts := startServer(t, signaling.Config{
		WSMaxAge: 200 * time.Millisecond, SSEMaxAge: time.Second, PollWait: 100 * time.Millisecond,
		PingInterval: 100 * time.Millisecond, RateLimit: 2000, RateBurst: 2000,
	})
	for _, tr := range []client.Transport{client.WebSocket, client.SSE, client.Poll} {
		t.Run(string(tr), func(t *testing.T) {
			net := startProxy(t, ts.url)
			opts := fastOptions(tr)
			opts.SendRate, opts.SendBurst = 2000, 2000
			sender := dial(t, net.url, opts)
			receiver := dial(t, ts.url, fastOptions(client.WebSocket))
			room := "upstream-" + string(tr)
			join(t, sender, room)
			join(t, receiver, room)
			const total = 600
			for i := 1; i <= total; i++ {
				if err := sender.SendMessage(receiver.Session(), i); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				if i%200 == 100 {
					net.cut() // frames still in the proxy or the socket are lost with it
				}
			}
			for want := 1; want <= total; want++ {
				got := 0
				m := next[client.Message](t, receiver)
				if err := json.Unmarshal(m.Data, &got); err != nil || got != want {
					t.Fatalf("message %s, want %d: lost, repeated or reordered", m.Data, want)
				}
			}
		})
	}
}
