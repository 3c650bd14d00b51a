package client_test

import (
	"encoding/json"
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/client"
	"github.com/switchboard-rtc/switchboard/signaling/engine/enginetest"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TestUnavailableSentAgain: a message the server refuses unavailable
// (twice), and the one written after it, which the server refuses while
// it waits for the first to come again, are sent again by the client
// under their cseq after a backoff: the peer gets every message once, in
// order, and the sender's application hears of no error.
func TestUnavailableSentAgain(t *testing.T) {
	eng := enginetest.NewFlaky()
	ts := startServer(t, signaling.Config{Engine: eng})
	for _, tr := range []client.Transport{client.WebSocket, client.SSE, client.Poll} {
		t.Run(string(tr), func(t *testing.T) {
			eng.Fails.Store(2)
			sender := dial(t, ts.url, fastOptions(tr))
			receiver := dial(t, ts.url, fastOptions(client.WebSocket))
			room := "unavailable-" + string(tr)
			join(t, sender, room)
			join(t, receiver, room)
			want := []string{"before", "flaky", "after"}
			for _, m := range want {
				must(t, sender.SendMessage(receiver.Session(), m))
			}
			for _, w := range want {
				var got string
				m := next[client.Message](t, receiver)
				if err := json.Unmarshal(m.Data, &got); err != nil || got != w {
					t.Fatalf("message %s, want %q: lost, repeated or reordered", m.Data, w)
				}
			}
			if n := eng.Fails.Load(); n != -1 {
				t.Fatalf("the flaky message was sent %d times, want 3 (refused twice)", 2-n)
			}
			must(t, sender.SendMessage(receiver.Session(), "last"))
			if m := next[client.Message](t, receiver); string(m.Data) != `"last"` {
				t.Fatalf("message %s after the flaky one, want \"last\"", m.Data)
			}
			for {
				select {
				case ev := <-sender.Events():
					if e, ok := ev.(client.ErrorEvent); ok && e.Code == wire.CodeUnavailable {
						t.Fatalf("the sender was told %+v", e)
					}
					continue
				default:
				}
				break
			}
		})
	}
}
