package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-rtc/switchboard/signaling"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSoakReconciles runs a short soak against a real server: every
// message sent arrives once, in order, and the report says so; a
// message the ledger never saw arrive counts as missing.
func TestSoakReconciles(t *testing.T) {
	srv, err := signaling.New(signaling.Config{Logger: slog.New(slog.DiscardHandler),
		RateLimit: 1000, RateBurst: 1000, JoinRatePerAddr: 1000, JoinBurstPerAddr: 1000,
		RoomJoinRate: 1000, RoomJoinBurst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		_ = srv.Shutdown(ctx)
		<-served
	})
	rep := run(t.Context(), config{url: "http://" + ln.Addr().String(), sessions: 9, roomSize: 3, rate: 20,
		duration: 1500 * time.Millisecond, drain: time.Second})
	if !rep.Clean() || rep.Sent == 0 || rep.Received != rep.Sent || rep.Missing != 0 || rep.DialErrors+rep.JoinErrors != 0 {
		t.Fatalf("a soak without faults: %+v", rep)
	}
	// The reconciliation itself: a message sent and never received is
	// missing and, without a refusal, certainly lost.
	l := &ledger{sent: map[pair]int{{"a", "b"}: 2}, got: map[pair]*received{{"a", "b"}: {highest: 1, seen: map[int]bool{1: true}}},
		sends: map[pair][]sendNote{{"a", "b"}: {{}, {At: 1}}}, rep: report{Refused: map[string]int{}}}
	if r := l.reconcile(); r.Missing != 1 || r.UnrefusedMissed != 1 || r.Clean() || len(r.Examples) != 1 || r.Examples[0].N != 2 {
		t.Fatalf("one message lost: %+v", r)
	}
}
