package call_test

import (
	"context"
	"log"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/signaling/client"
	"github.com/switchboard-rtc/switchboard/signaling/client/call"
)

// A Go program joins a room and talks to every peer (browsers included)
// over a data channel.
func ExampleJoin() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "https://meet.example.com", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	room, err := call.Join(ctx, c, "standup-42", client.JoinOptions{Name: "bot"}, call.Config{
		Setup: func(p *call.Peer) error {
			dc, err := p.Conn().CreateDataChannel("chat", nil)
			if err != nil {
				return err
			}
			dc.OnOpen(func() { _ = dc.SendText("hello " + p.Name) })
			dc.OnMessage(func(m webrtc.DataChannelMessage) { log.Printf("%s: %s", p.ID, m.Data) })
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	for ev := range room.Events() {
		log.Printf("%T", ev)
	}
}

// Loopback sends every peer its own media back: a test peer in one line.
func ExampleLoopback() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "http://localhost:8080", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	room, err := call.Join(ctx, c, "echo-test", client.JoinOptions{}, call.Config{Setup: call.Loopback})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	for range room.Events() {
	}
}
