package main

import (
	"testing"
	"time"
)

// TestCallOverEveryChannelPair: peers on any two channels complete a
// relay-only pion negotiation and a DataChannel round trip.
func TestCallOverEveryChannelPair(t *testing.T) {
	parallel(t)
	app := startApp(t, nil)
	for _, pair := range [][2]string{{"ws", "sse"}, {"sse", "poll"}, {"ws", "poll"}, {"sse", "sse"}, {"poll", "poll"}} {
		t.Run(pair[0]+"-"+pair[1], func(t *testing.T) {
			relayCall(t, dialOn(t, app.httpURL, pair[0]), dialOn(t, app.httpURL, pair[1]), "pair-"+pair[0]+"-"+pair[1], nil)
		})
	}
}

// TestResumeMidNegotiation cuts bob's channel right after alice's offer,
// lets alice's offer and candidates pile up while he is away, and resumes
// him on another channel: every event arrives exactly once, in order (the
// client fails the test on a gap), alice never sees peer-left (handle
// fails on any unexpected frame), and the call completes.
func TestResumeMidNegotiation(t *testing.T) {
	parallel(t)
	app := startApp(t, nil)
	for _, hop := range [][2]string{{"ws", "sse"}, {"sse", "poll"}, {"poll", "ws"}} {
		t.Run(hop[0]+"-to-"+hop[1], func(t *testing.T) {
			aliceSig, bobSig := dialOn(t, app.httpURL, "ws"), dialOn(t, app.httpURL, hop[0])
			relayCall(t, aliceSig, bobSig, "hop-"+hop[0]+"-"+hop[1], func(alice *relayPeer) {
				bobSig.cut()
				select { // alice trickles at least one candidate while bob is away
				case <-alice.sentCand:
				case <-time.After(e2eTimeout):
					t.Fatal("alice gathered no candidate")
				}
				bobSig.resumeOn(hop[1])
			})
		})
	}
}
