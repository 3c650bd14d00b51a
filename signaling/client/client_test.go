package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/client"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TestEveryChannel: on each channel alone a client opens a session,
// joins, meets a peer, exchanges every relayed frame type both ways,
// gets the server's refusals as errors, and leaves.
func TestEveryChannel(t *testing.T) {
	ts := startServer(t, signaling.Config{})
	for _, tr := range []client.Transport{client.WebSocket, client.SSE, client.Poll} {
		t.Run(string(tr), func(t *testing.T) {
			a := dial(t, ts.url, fastOptions(tr))
			if got := a.Transport(); got != tr {
				t.Fatalf("transport %s, want %s", got, tr)
			}
			room := "every-" + string(tr)
			if j := join(t, a, room); j.Room != room || len(j.Peers) != 0 {
				t.Fatalf("joined %+v", j)
			}
			b := dial(t, ts.url, fastOptions(client.WebSocket))
			if j := join(t, b, room); len(j.Peers) != 1 || j.Peers[0].ID != a.Session() {
				t.Fatalf("b joined %+v, want a (%s) there", j, a.Session())
			}
			if pj := next[client.PeerJoined](t, a); pj.Peer.ID != b.Session() {
				t.Fatalf("peer-joined %+v", pj)
			}

			must(t, a.SendOffer(b.Session(), "v=0 offer"))
			if o := next[client.Offer](t, b); o.From != a.Session() || o.SDP != "v=0 offer" {
				t.Fatalf("offer %+v", o)
			}
			must(t, b.SendAnswer(a.Session(), "v=0 answer"))
			if o := next[client.Answer](t, a); o.From != b.Session() || o.SDP != "v=0 answer" {
				t.Fatalf("answer %+v", o)
			}
			mid := "0"
			must(t, a.SendCandidate(b.Session(), &client.CandidateInit{Candidate: "candidate:1 1 udp 1 192.0.2.1 9 typ host", SDPMid: &mid}))
			if c := next[client.Candidate](t, b); c.Candidate == nil || *c.Candidate.SDPMid != "0" {
				t.Fatalf("candidate %+v", c)
			}
			must(t, a.SendCandidate(b.Session(), nil))
			if c := next[client.Candidate](t, b); c.Candidate != nil {
				t.Fatalf("end of candidates came as %+v", c.Candidate)
			}
			must(t, b.SendMessage("", map[string]string{"text": "hi"}))
			if m := next[client.Message](t, a); m.From != b.Session() || string(m.Data) != `{"text":"hi"}` {
				t.Fatalf("message %+v", m)
			}

			// A refusal of a request is its error; of a plain send, an event.
			ctx := context.Background()
			var pe *client.Error
			if err := a.Echo(ctx, false); !errors.As(err, &pe) || pe.Code != wire.CodeEchoOff {
				t.Fatalf("echo: %v, want echo_off", err)
			}
			must(t, a.SendOffer("nobody", "v=0"))
			if e := next[client.ErrorEvent](t, a); e.Code != wire.CodeUnknownPeer {
				t.Fatalf("error event %+v, want unknown_peer", e)
			}
			if _, err := a.Join(ctx, "other", client.JoinOptions{}); !errors.As(err, &pe) || pe.Code != wire.CodeAlreadyInRoom {
				t.Fatalf("second join: %v", err)
			}
			must(t, a.Ping(ctx))

			must(t, a.Leave(ctx))
			if pl := next[client.PeerLeft](t, b); pl.Peer.ID != a.Session() || pl.Reason != wire.PeerLeftOnPurpose {
				t.Fatalf("peer-left %+v", pl)
			}
			must(t, a.Close())
			if a.Err() != client.ErrClosed {
				t.Fatalf("Err after Close: %v", a.Err())
			}
			if err := a.SendMessage("", 1); !errors.Is(err, client.ErrClosed) {
				t.Fatalf("send after close: %v", err)
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
