// Package client is a Go client of the Switchboard signaling protocol
// (docs/protocol.md, v1), with the behaviour of the browser client
// (web/client/client.js): a program dials a server, joins a room and
// exchanges offers, answers, candidates and messages with its peers.
//
//	c, err := client.Dial(ctx, "https://meet.example.com", client.Options{})
//	if err != nil { … }
//	defer c.Close()
//	joined, err := c.Join(ctx, "standup-42", client.JoinOptions{Name: "bot"})
//	for ev := range c.Events() {
//		switch ev := ev.(type) {
//		case client.PeerJoined: …
//		case client.Offer: …
//		}
//	}
//
// # A session outlives its channel
//
// The client carries its session over a WebSocket, else server-sent
// events, else long-polling (Options.Transports): after FallbackAfter
// failed attempts on one, and only while the server still answers plain
// HTTP, it tries the next. Reconnects wait a capped exponential backoff
// with jitter (half fixed, half random), capped at ResumeBackoffCap while
// a session can still be resumed, and resume with the session's token and
// the seq of the last event handled: the missed events are replayed,
// every event is delivered once and in order, never twice. Only when a
// resume fails does a new session start (ResumeFailed, then Welcome), and
// the client joins its room again (Joined with Rejoin set). On a fallback
// channel it tries the WebSocket again from time to time
// (Options.UpgradeAfter) and moves back when it works, by resuming the
// session on it: the server hands the session over, nothing is lost.
//
// Upstream frames are not numbered (docs/protocol.md): one written into
// a WebSocket just as it ends may be lost, and one whose POST got no
// answer is sent again and may arrive twice. Requests (Join, Leave, Echo,
// Ping) time out instead of waiting forever.
//
// It paces what it sends below the server's rate limits, keeps frames
// sent while no channel is up and sends them once the session is resumed,
// pings to notice a dead channel, renews TURN credentials before they
// expire, uses the room's relay when joined names one, and moves to the
// room's owner node in a cluster when joined names it.
//
// # Events come on a channel
//
// Events() is one channel of typed events (a type switch on Event), in
// the order the server sent them. A channel rather than callbacks,
// because the receiver chooses its goroutine and its pace: a program
// handles events in one loop, alongside its own work in a select, and
// nothing of the client runs inside its code, so it may call any method
// (Join, Send…, Close) while handling an event. The client never drops
// an event: it keeps up to Options.EventQueue undelivered events, and
// past that it stops reading from the server, which keeps the rest in the
// session's replay buffer (a program that stops reading for long is cut
// by the server as a slow consumer, and the client resumes). The channel
// is closed when the client ends: after Close, or when another channel
// took the session over (Err says why).
//
// # ICE servers
//
// ICEServers() is the latest list the server handed out, from whichever
// of welcome, joined (a room's relay, or TURN credentials issued per
// room) or a renewal carries it; ICEServersChanged reports every change
// after the welcome. Package call (signaling/client/call) builds
// pion/webrtc peer connections on this client.
package client
