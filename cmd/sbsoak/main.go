// Command sbsoak is the cluster's soak client: many sessions in small
// rooms, on WebSocket, SSE and long-polling (some free to fall back and
// climb back), each sending numbered messages to its room's peers while
// whatever runs the servers injects faults. At the end it reconciles
// every sender→receiver pair: what was sent, what arrived, and whether it
// arrived once, in order, and only while the receiver was in the room
// and had been told of the sender. It uses the public Go client
// (signaling/client), so it resumes, falls back and rejoins as an
// application would.
//
//	sbsoak -url http://127.0.0.1:8080 -sessions 300 -duration 5m
//
// scripts/soak.sh runs it through HAProxy in round robin against three
// nodes and one Redis, with Redis paused, a node killed and Redis slowed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/client"
)

type config struct {
	url      string
	sessions int
	roomSize int
	rate     float64
	duration time.Duration
	drain    time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8080", "the server (or load balancer) origin")
	flag.IntVar(&c.sessions, "sessions", 300, "sessions, in rooms of -room-size")
	flag.IntVar(&c.roomSize, "room-size", 4, "sessions per room")
	flag.Float64Var(&c.rate, "rate", 2, "messages per second each session sends, each to a random peer")
	flag.DurationVar(&c.duration, "duration", time.Minute, "how long sessions send")
	flag.DurationVar(&c.drain, "drain", 20*time.Second, "how long to wait for the last messages after sending stops")
	flag.Parse()
	if c.sessions < 2 || c.roomSize < 2 || c.rate <= 0 || c.duration <= 0 {
		fmt.Fprintln(os.Stderr, "sbsoak: -sessions and -room-size must be at least 2, -rate and -duration positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep := run(ctx, c)
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Println(string(out))
	if !rep.Clean() {
		os.Exit(1)
	}
}

// ledger is what every session sent and received, by pair.
type ledger struct {
	mu    sync.Mutex
	sent  map[pair]int        // the highest n sent
	got   map[pair]*received  // what arrived
	sends map[pair][]sendNote // when and how each n went, for examples of what was missing
	start time.Time
	rep   report
}

type pair struct{ from, to string }

// sendNote is how one message went out: when (seconds into the run) and
// on which transport.
type sendNote struct {
	At        float64 `json:"at"`
	Transport string  `json:"transport"`
}

// missingExample names one message that never arrived.
type missingExample struct {
	From, To string
	N        int
	Sent     sendNote
}

// received is what one receiver got from one sender.
type received struct {
	highest int
	seen    map[int]bool
}

// report is the reconciliation.
type report struct {
	Sessions        int              `json:"sessions"`
	Sent            int              `json:"sent"`
	Received        int              `json:"received"`
	Missing         int              `json:"missing"`    // sent, never received: lost unless refused
	Duplicated      int              `json:"duplicated"` // n at or below one already received
	Reordered       int              `json:"reordered"`  // n below one already received, first seen
	Refused         map[string]int   `json:"refused"`    // error events by code: refused sends among them
	NotInRoom       int              `json:"notInRoom"`  // a message while the receiver had no joined
	Unannounced     int              `json:"unannounced"`
	ResumeFailed    int              `json:"resumeFailed"`
	Welcomes        int              `json:"welcomes"`
	ChannelsClosed  map[string]int   `json:"channelsClosed"` // by transport
	DialErrors      int              `json:"dialErrors"`
	JoinErrors      int              `json:"joinErrors"`
	UnrefusedMissed int              `json:"unrefusedMissing"` // missing beyond every refusal: certainly lost
	Examples        []missingExample `json:"missingExamples,omitempty"`
}

// Clean reports whether nothing was lost, duplicated, reordered or
// delivered to a session that was not told it joined.
func (r report) Clean() bool {
	return r.UnrefusedMissed == 0 && r.Duplicated == 0 && r.Reordered == 0 && r.NotInRoom == 0 && r.Unannounced == 0
}

func run(ctx context.Context, c config) report {
	l := &ledger{sent: map[pair]int{}, got: map[pair]*received{}, sends: map[pair][]sendNote{}, start: time.Now(),
		rep: report{Sessions: c.sessions, Refused: map[string]int{}, ChannelsClosed: map[string]int{}}}
	sendCtx, stopSending := context.WithTimeout(ctx, c.duration)
	defer stopSending()
	var wg sync.WaitGroup
	clients := make([]*client.Client, c.sessions)
	for i := range c.sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i] = l.session(ctx, sendCtx, c, i)
		}()
	}
	wg.Wait() // every session has sent its last
	drain := time.NewTimer(c.drain)
	select {
	case <-drain.C:
	case <-ctx.Done():
	}
	for _, cl := range clients {
		if cl != nil {
			_ = cl.Close()
		}
	}
	return l.reconcile()
}

// reconcile counts what every pair sent and received.
func (l *ledger) reconcile() report {
	l.mu.Lock()
	defer l.mu.Unlock()
	refused := 0
	for code, n := range l.rep.Refused {
		if code == "unknown_peer" || code == "unavailable" || code == "not_in_room" || code == "rate_limited" {
			refused += n
		}
	}
	for p, n := range l.sent {
		l.rep.Sent += n
		got := l.got[p]
		for k := 1; k <= n; k++ {
			if got != nil && got.seen[k] {
				continue
			}
			l.rep.Missing++
			if len(l.rep.Examples) < 20 {
				l.rep.Examples = append(l.rep.Examples, missingExample{From: p.from, To: p.to, N: k, Sent: l.sends[p][k-1]})
			}
		}
	}
	l.rep.UnrefusedMissed = max(0, l.rep.Missing-refused)
	return l.rep
}

// transports: a third of the sessions pick freely (and climb back to
// WebSocket), a third use SSE with polling as their fallback, a third
// poll.
func transports(i int) []client.Transport {
	switch i % 3 {
	case 1:
		return []client.Transport{client.SSE, client.Poll}
	case 2:
		return []client.Transport{client.Poll}
	}
	return nil
}

// session runs one client until ctx ends, sending until sendCtx does.
func (l *ledger) session(ctx, sendCtx context.Context, c config, i int) *client.Client {
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cl, err := client.Dial(dialCtx, c.url, client.Options{Transports: transports(i), NoFollowOwner: true,
		SendRate: 1000, SendBurst: 1000, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		l.count(func(r *report) { r.DialErrors++ })
		return nil
	}
	room := "soak-" + strconv.Itoa(i/c.roomSize)
	if _, err := cl.Join(dialCtx, room, client.JoinOptions{Name: "s" + strconv.Itoa(i)}); err != nil {
		l.count(func(r *report) { r.JoinErrors++ })
	}
	s := &soakSession{l: l, c: cl, peers: map[string]bool{}}
	done := make(chan struct{})
	go func() { defer close(done); s.read() }()
	tick := time.NewTicker(time.Duration(float64(time.Second) / c.rate))
	defer tick.Stop()
	for {
		select {
		case <-sendCtx.Done():
			return cl
		case <-done:
			return cl
		case <-tick.C:
			s.sendOne()
		}
	}
}

// soakSession is one client's view: its room's peers as it was told.
type soakSession struct {
	l *ledger
	c *client.Client

	mu     sync.Mutex
	me     string
	joined bool
	peers  map[string]bool
}

func (s *soakSession) sendOne() {
	s.mu.Lock()
	if !s.joined || len(s.peers) == 0 {
		s.mu.Unlock()
		return
	}
	var to string
	k := rand.IntN(len(s.peers))
	for p := range s.peers {
		if k == 0 {
			to = p
			break
		}
		k--
	}
	me := s.me
	s.mu.Unlock()
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	p := pair{me, to}
	n := s.l.sent[p] + 1
	if s.c.SendMessage(to, map[string]int{"n": n}) != nil {
		return // never queued
	}
	s.l.sent[p] = n
	s.l.sends[p] = append(s.l.sends[p], sendNote{At: time.Since(s.l.start).Seconds(), Transport: string(s.c.Transport())})
}

// read follows the client's events until it closes.
func (s *soakSession) read() {
	for ev := range s.c.Events() {
		switch ev := ev.(type) {
		case client.Welcome:
			s.mu.Lock()
			s.me, s.joined = ev.Session, false
			clear(s.peers)
			s.mu.Unlock()
			s.l.count(func(r *report) { r.Welcomes++ })
		case client.ResumeFailed:
			s.l.count(func(r *report) { r.ResumeFailed++ })
		case client.Joined:
			s.mu.Lock()
			s.joined = true
			clear(s.peers)
			for _, p := range ev.Peers {
				s.peers[p.ID] = true
			}
			s.mu.Unlock()
		case client.Left:
			s.mu.Lock()
			s.joined = false
			s.mu.Unlock()
		case client.PeerJoined:
			s.mu.Lock()
			s.peers[ev.Peer.ID] = true
			s.mu.Unlock()
		case client.PeerLeft:
			s.mu.Lock()
			delete(s.peers, ev.Peer.ID)
			s.mu.Unlock()
		case client.Message:
			s.received(ev)
		case client.ErrorEvent:
			s.l.count(func(r *report) { r.Refused[ev.Code]++ })
		case client.ChannelClosed:
			s.l.count(func(r *report) { r.ChannelsClosed[string(ev.Transport)]++ })
		}
	}
}

func (s *soakSession) received(m client.Message) {
	var body struct{ N int }
	if json.Unmarshal(m.Data, &body) != nil || body.N == 0 {
		return
	}
	s.mu.Lock()
	me, joined, known := s.me, s.joined, s.peers[m.From]
	s.mu.Unlock()
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	r := &s.l.rep
	r.Received++
	if !joined {
		r.NotInRoom++
	} else if !known {
		r.Unannounced++
	}
	p := pair{m.From, me}
	got := s.l.got[p]
	if got == nil {
		got = &received{seen: map[int]bool{}}
		s.l.got[p] = got
	}
	switch {
	case got.seen[body.N]:
		r.Duplicated++
		return
	case body.N < got.highest:
		r.Reordered++
	}
	got.seen[body.N] = true
	got.highest = max(got.highest, body.N)
}

func (l *ledger) count(f func(*report)) {
	l.mu.Lock()
	f(&l.rep)
	l.mu.Unlock()
}
