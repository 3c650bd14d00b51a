// Package call makes calls on a signaling client (package
// signaling/client) with pion/webrtc: it joins a room and keeps one
// peer connection per peer, negotiated with the "perfect negotiation"
// pattern of the JavaScript client (web/client/call.js) the demo page
// runs, so a Go program and browsers call each other without caring who
// offers first.
//
//	c, _ := client.Dial(ctx, "https://meet.example.com", client.Options{})
//	room, _ := call.Join(ctx, c, "standup-42", client.JoinOptions{Name: "bot"}, call.Config{
//		Setup: func(p *call.Peer) error { _, err := p.Conn().AddTrack(track); return err },
//	})
//	for ev := range room.Events() { … }
//
// Roles. Of each pair exactly one side is polite: the one whose session
// id sorts first, as on the page. The newcomer calls the peers its
// joined lists; the others wait for its offer (a flood of joins costs
// them nothing until someone offers), unless Config.CallNewcomers. When
// both offer at once (glare), the impolite side ignores the other's
// offer and the polite side gives way and answers: a browser rolls its
// offer back, pion cannot, so a polite Go peer starts its connection over
// (Setup runs again on the new one). A connection that fails restarts ICE
// from the impolite side; renewed TURN credentials reach every peer
// connection through SetConfiguration.
//
// What a program sends goes in Config.Setup, called once per peer
// connection: before the first offer when this side calls (kinds it
// sends nothing of are offered receive-only, as the page does), after the
// peer's offer is applied when it answers, so its tracks take the
// offered transceivers. What it receives: set p.Conn().OnTrack or
// OnDataChannel in Setup too.
package call
