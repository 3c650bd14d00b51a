package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// fakeSignal is a scripted stand-in for the signaling server: just enough of
// docs/protocol.md ("Sequence numbers and resume", "Channels") to drive the
// JavaScript client through what the real server does rarely or never on
// cue: replaying events the client already has, forgetting a session,
// closing with 4000 or 4001, refusing a channel. One room, no relaying:
// the test injects the events a peer would cause.
type fakeSignal struct {
	mu        sync.Mutex
	sessions  map[string]*fakeSession // by token
	order     []*fakeSession          // in the order they started
	refuse    map[string]bool         // "ws", "sse", "poll": answer 404
	overlap   int                     // on the next resume, replay this many events the client already has
	nextID    int
	attaches  []string // "ws new", "sse resume 3", …
	pollWait  time.Duration
	sseMaxAge time.Duration
	busy      int            // answer this many more POSTs 429, as over the byte budget
	joined    map[string]any // extra fields of every joined frame (owner, iceServers)
	requests  []string       // "<node> <method> <path> room=<room> token=<token>", every request
}

type fakeSession struct {
	id, token string
	events    [][]byte      // events[i] carries seq i+1
	wake      chan struct{} // closed and replaced on every change
	channel   int           // id of the attached channel, 0 when detached
	kick      chan int      // tells the attached channel to end with a code
	kickNext  int           // a code kick gave while no channel was attached (a poll between two requests)
	room      string
	received  []string // types of the upstream frames handled, in order
	applied   int      // the last cseq handled
	ended     bool
}

func newFakeSignal() *fakeSignal {
	return &fakeSignal{sessions: map[string]*fakeSession{}, refuse: map[string]bool{}, pollWait: 2 * time.Second, sseMaxAge: time.Minute}
}

func (f *fakeSignal) handler() http.Handler { return f.handlerAs("home") }

// handlerAs serves the fake as node: several nodes share the sessions, as
// a cluster's do through Redis, and every request is logged with its node.
func (f *fakeSignal) handlerAs(node string) http.Handler {
	mux := f.mux()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		token := q.Get("token")
		if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			token = auth
		}
		f.mu.Lock()
		f.requests = append(f.requests, fmt.Sprintf("%s %s %s room=%s token=%s", node, r.Method, r.URL.Path, q.Get("room"), token))
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

func (f *fakeSignal) mux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ws", f.serveWS)
	mux.HandleFunc("GET /v1/sse", f.serveSSE)
	mux.HandleFunc("GET /v1/poll", f.servePoll)
	mux.HandleFunc("POST /v1/send", f.serveSend)
	mux.HandleFunc("GET /v1/ice-servers", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"type":"error","code":"unauthorized"}`, http.StatusUnauthorized)
	})
	return mux
}

// push adds an event to s, with the next seq, and wakes its channel. Call with f.mu held.
func (s *fakeSession) pushLocked(frame map[string]any) {
	b, _ := json.Marshal(frame)
	b = fmt.Appendf(b[:len(b)-1], `,"seq":%d}`, len(s.events)+1) // seq last, as the server does
	s.events = append(s.events, b)
	close(s.wake)
	s.wake = make(chan struct{})
}

// push adds an event to the session that started n-th (0 = the first).
func (f *fakeSignal) push(n int, frame map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.order[n].pushLocked(frame)
}

// kick ends the channel attached to the n-th session with code (WebSocket
// close code), or the next one to attach when none is: a polling client
// is between two requests now and then, and a kick then was lost
// (TestClientReplaced/poll timed out waiting for the 409).
func (f *fakeSignal) kick(n int, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.order[n]
	if s.kick == nil {
		s.kickNext = code
		return
	}
	select {
	case s.kick <- code:
	default:
	}
}

// forget drops every session as if the grace period had passed.
func (f *fakeSignal) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tok, s := range f.sessions {
		s.ended = true
		delete(f.sessions, tok)
	}
}

// replayTwice makes the next resume replay n events the client already has.
func (f *fakeSignal) replayTwice(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.overlap = n
}

type fakeSnapshot struct {
	sessions int
	received []string // of the newest session
	room     string
	attaches []string
	overlap  int // not yet used by a resume
	requests []string
}

func (f *fakeSignal) snapshot() fakeSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := fakeSnapshot{sessions: len(f.order), attaches: append([]string(nil), f.attaches...), overlap: f.overlap,
		requests: append([]string(nil), f.requests...)}
	if len(f.order) > 0 {
		last := f.order[len(f.order)-1]
		s.received = append([]string(nil), last.received...)
		s.room = last.room
	}
	return s
}

// attach starts or resumes a session for a channel of kind. notices are
// the channel notices to send first; after is where replay starts.
func (f *fakeSignal) attach(kind string, r *http.Request) (s *fakeSession, after, channel int, kick chan int, notices [][]byte) {
	q := r.URL.Query()
	token := q.Get("token")
	after, _ = strconv.Atoi(q.Get("after"))
	if id := r.Header.Get("Last-Event-ID"); id != "" && kind == "sse" {
		after, _ = strconv.Atoi(id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	channel = f.nextID
	kick = make(chan int, 1)
	s = f.sessions[token]
	switch {
	case token != "" && s != nil:
		f.attaches = append(f.attaches, fmt.Sprintf("%s resume %d", kind, after))
		if kind != "poll" {
			b, _ := json.Marshal(map[string]any{"type": "resumed", "session": s.id, "after": after, "last": len(s.events), "applied": s.applied})
			notices = append(notices, b)
		}
		after = max(0, min(after, len(s.events))-f.overlap)
		f.overlap = 0
		if s.kick != nil {
			select {
			case s.kick <- 4001: // takeover
			default:
			}
		}
	default:
		if token != "" {
			f.attaches = append(f.attaches, kind+" resume_failed")
			notices = append(notices, []byte(`{"type":"error","code":"resume_failed","message":"no such session"}`))
		} else {
			f.attaches = append(f.attaches, kind+" new")
		}
		s = &fakeSession{id: fmt.Sprintf("S%03d", len(f.order)+1), token: fmt.Sprintf("T%03d", len(f.order)+1), wake: make(chan struct{})}
		f.sessions[s.token] = s
		f.order = append(f.order, s)
		s.pushLocked(map[string]any{"type": "welcome", "session": s.id, "token": s.token, "iceServers": []any{}, "ttl": 0, "heartbeat": 20})
		after = 0
	}
	s.channel, s.kick = channel, kick
	if s.kickNext != 0 {
		kick <- s.kickNext
		s.kickNext = 0
	}
	return s, after, channel, kick, notices
}

func (f *fakeSignal) detach(s *fakeSession, channel int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.channel == channel {
		select {
		case s.kickNext = <-s.kick: // it ended before it read its kick: the next channel gets it
		default:
		}
		s.channel, s.kick = 0, nil
	}
}

// next returns the events after after and a channel that closes on the next change.
func (f *fakeSignal) next(s *fakeSession, after int) ([][]byte, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), s.events[min(after, len(s.events)):]...), s.wake
}

// upstream handles one client frame; it returns the error frame it earned, or nil.
func (f *fakeSignal) upstream(s *fakeSession, raw []byte) map[string]any {
	var m struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id"`
		Room string          `json:"room"`
		CSeq int             `json:"cseq"`
	}
	if json.Unmarshal(raw, &m) != nil || m.Type == "" {
		return map[string]any{"type": "error", "code": "bad_json"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.CSeq > 0 { // handled once, as the server does
		if m.CSeq <= s.applied {
			return nil
		}
		s.applied = m.CSeq
	}
	s.received = append(s.received, m.Type)
	reply := func(frame map[string]any) {
		if m.ID != nil {
			frame["re"] = m.ID
		}
		s.pushLocked(frame)
	}
	fail := func(code string) map[string]any {
		e := map[string]any{"type": "error", "code": code, "message": code}
		if m.ID != nil {
			e["re"] = m.ID
		}
		return e
	}
	switch m.Type {
	case "ping":
		reply(map[string]any{"type": "pong"})
	case "join":
		if s.room != "" {
			return fail("already_in_room")
		}
		s.room = m.Room
		joined := map[string]any{"type": "joined", "room": m.Room, "peers": []any{}}
		for k, v := range f.joined {
			joined[k] = v
		}
		reply(joined)
	case "leave":
		if s.room == "" {
			return fail("not_in_room")
		}
		reply(map[string]any{"type": "left", "room": s.room})
		s.room = ""
	case "bye":
		s.ended = true
		delete(f.sessions, s.token)
	}
	return nil
}

var fakeUpgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// setRefused makes the channel of kind answer 404, or work again.
func (f *fakeSignal) setRefused(kind string, refuse bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuse[kind] = refuse
}

func (f *fakeSignal) refused(kind string, w http.ResponseWriter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse[kind] {
		http.Error(w, "refused by the test", http.StatusNotFound)
	}
	return f.refuse[kind]
}

func (f *fakeSignal) serveWS(w http.ResponseWriter, r *http.Request) {
	if f.refused("ws", w) {
		return
	}
	conn, err := fakeUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	s, after, channel, kick, notices := f.attach("ws", r)
	defer f.detach(s, channel)
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			_, data, err := conn.ReadMessage()
			if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				_ = f.upstream(s, []byte(`{"type":"bye"}`))
			}
			if err != nil {
				return
			}
			if e := f.upstream(s, data); e != nil {
				f.mu.Lock()
				s.pushLocked(e) // over WebSocket an error is an event like any other
				f.mu.Unlock()
			}
		}
	}()
	for _, n := range notices {
		if conn.WriteMessage(websocket.TextMessage, n) != nil {
			return
		}
	}
	for {
		evs, wake := f.next(s, after)
		for _, e := range evs {
			if conn.WriteMessage(websocket.TextMessage, e) != nil {
				return
			}
		}
		after += len(evs)
		select {
		case <-wake:
		case <-gone:
			return
		case code := <-kick:
			reason := map[int]string{4000: "resume", 4001: "replaced"}[code]
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
			return
		}
	}
}

func (f *fakeSignal) serveSSE(w http.ResponseWriter, r *http.Request) {
	if f.refused("sse", w) {
		return
	}
	s, after, channel, kick, notices := f.attach("sse", r)
	defer f.detach(s, channel)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl := w.(http.Flusher)
	fmt.Fprint(w, "retry: 200\n\n")
	for _, n := range notices {
		fmt.Fprintf(w, "data: %s\n\n", n)
	}
	maxAge := time.NewTimer(f.sseMaxAge)
	defer maxAge.Stop()
	for {
		evs, wake := f.next(s, after)
		for i, e := range evs {
			fmt.Fprintf(w, "id: %d\ndata: %s\n\n", after+i+1, e)
		}
		after += len(evs)
		fl.Flush()
		select {
		case <-wake:
		case <-r.Context().Done():
			return
		case <-maxAge.C:
			return // the browser reconnects with Last-Event-ID
		case code := <-kick:
			if code == 4001 {
				fmt.Fprint(w, "data: {\"type\":\"error\",\"code\":\"replaced\",\"message\":\"replaced\"}\n\n")
			}
			return
		}
	}
}

func (f *fakeSignal) servePoll(w http.ResponseWriter, r *http.Request) {
	if f.refused("poll", w) {
		return
	}
	s, after, channel, kick, notices := f.attach("poll", r)
	defer f.detach(s, channel)
	timeout := time.NewTimer(f.pollWait)
	defer timeout.Stop()
	var evs [][]byte
wait:
	for {
		var wake <-chan struct{}
		if evs, wake = f.next(s, after); len(evs) > 0 || len(notices) > 0 {
			break
		}
		select {
		case <-wake:
		case <-r.Context().Done():
			return
		case <-timeout.C:
			break wait
		case code := <-kick:
			if code == 4001 {
				w.WriteHeader(http.StatusConflict)
				fmt.Fprint(w, `{"type":"error","code":"replaced"}`)
				return
			}
			break wait
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "[%s]", joinRaw(append(notices, evs...)))
}

func (f *fakeSignal) serveSend(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	s := f.sessions[token]
	busy := f.busy > 0 && s != nil
	if busy {
		f.busy--
	}
	f.mu.Unlock()
	if busy {
		http.Error(w, `{"type":"error","code":"rate_limited","message":"over the byte budget"}`, http.StatusTooManyRequests)
		return
	}
	if s == nil {
		http.Error(w, `{"type":"error","code":"unauthorized","message":"no such session"}`, http.StatusUnauthorized)
		return
	}
	var batch []json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
		http.Error(w, `{"type":"error","code":"bad_json","message":"the test fake takes arrays only"}`, http.StatusBadRequest)
		return
	}
	answers := make([]any, len(batch))
	for i, m := range batch {
		if e := f.upstream(s, m); e != nil {
			answers[i] = e
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answers)
}

func joinRaw(parts [][]byte) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}
