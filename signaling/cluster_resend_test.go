package signaling

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	redisengine "github.com/switchboard-rtc/switchboard/signaling/engine/redis"
	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
)

// TestClusterRelaySentAgain: a relay whose every Redis call timed out is
// answered unavailable with its cseq and is not handled; sent again
// under that cseq once Redis answers, it reaches its recipient exactly
// once, whether Redis ran the stalled call after all (it was busy: DEBUG
// SLEEP, then it ran what was waiting) or never did (every client paused:
// CLIENT PAUSE, and the node closed the connections whose calls timed
// out, which drops their calls).
func TestClusterRelaySentAgain(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs, 2, Config{}, func(c *redisengine.Config) {
		c.Timeout, c.NodeTTL = 150*time.Millisecond, 10*time.Second
	})
	admin := rs.Client(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name     string
		stall    func(t *testing.T) <-chan error // returns when Redis is stalled; the channel says when it is not
		ranLater bool
	}{
		{"ran later", func(t *testing.T) <-chan error { return rs.Sleep(t, 1500*time.Millisecond) }, true},
		{"did not run", func(t *testing.T) <-chan error {
			if err := admin.Do(ctx, "CLIENT", "PAUSE", "1500", "ALL").Err(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- rs.Client(t).Ping(context.Background()).Err() }() // answered when the pause ends
			return done
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A node that found Redis unreachable in the case before is
			// ready again at its next heartbeat.
			eventually(t, waitFor, "both nodes ready", func() error {
				return errors.Join(nodes[0].eng.Ready(), nodes[1].eng.Ready())
			})
			alice, bob := dial(t, nodes[0].url, nil), dial(t, nodes[1].url, nil)
			room := "resend-" + strconv.Itoa(int(time.Now().UnixNano()))
			alice.join(room)
			bob.join(room)
			alice.expect("peer-joined")
			base, token := httpBase(nodes[0].url), alice.welcome.str("token")
			msg := func(cseq int, data string) frame {
				return frame{"type": "message", "to": bob.id, "data": data, "cseq": cseq}
			}
			postOK(t, base, token, msg(1, "warm")) // a connection in the pool: the send below is written at once
			if m := bob.expect("message"); m.str("data") != "warm" {
				t.Fatalf("bob got %v", m)
			}

			// On a loaded machine the node may give up on a call before
			// it is even written, so the stall "ran later" may not run it:
			// then the frame is still due, and the stall is tried again
			// (bounded).
			for attempt := 1; ; attempt++ {
				done := tc.stall(t)
				wantUnavailable(t, postOne(t, base, token, msg(2, "once")), 2)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				up, err := admin.HGet(ctx, "{sb}:s:"+alice.id, "up").Int()
				if err == nil && (up == 2) == tc.ranLater {
					break
				}
				if err != nil || !tc.ranLater {
					t.Fatalf("after the stall Alice's last frame handled in Redis is %d (%v): the stalled send ran: %v, want %v",
						up, err, up == 2, tc.ranLater)
				}
				if attempt == 3 {
					// A machine this busy never wrote the call in time: the
					// case degenerates to "did not run", whose outcome is
					// checked below all the same.
					t.Logf("stall %d: the send was not written before its deadline; going on as if it did not run", attempt)
					break
				}
				t.Logf("stall %d: the send was not written before its deadline; stalling again", attempt)
			}

			// Sent again, as a client does, until the node takes it (it
			// may have found Redis unreachable meanwhile, until its next
			// heartbeat): bounded.
			deadline := time.Now().Add(waitFor)
			for {
				e := postOne(t, base, token, msg(2, "once"))
				if e == nil {
					break
				}
				wantUnavailable(t, e, 2)
				if time.Now().After(deadline) {
					t.Fatal("frame 2 still refused after Redis came back")
				}
				time.Sleep(50 * time.Millisecond) // a client's backoff, bounded by the deadline
			}
			postOK(t, base, token, msg(3, "after"))
			for _, want := range []string{"once", "after"} {
				if m := bob.expect("message"); m.str("data") != want {
					t.Fatalf("bob got %v, want %q: lost, repeated or reordered", m, want)
				}
			}
		})
	}
}
