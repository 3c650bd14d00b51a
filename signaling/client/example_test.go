package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/client"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// A program joins a room and handles what its peers send.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "https://meet.example.com", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	joined, err := c.Join(ctx, "standup-42", client.JoinOptions{Name: "bot"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(joined.Peers), "peers were there")
	for ev := range c.Events() {
		switch ev := ev.(type) {
		case client.PeerJoined:
			_ = c.SendMessage(ev.Peer.ID, map[string]string{"kind": "chat", "text": "hello " + ev.Peer.Name})
		case client.Message:
			fmt.Printf("%s sent %s\n", ev.From, ev.Data)
		case client.ResumeFailed:
			fmt.Println("session lost; the client joins again by itself")
		}
	}
}

// Rooms of a server started with -join-secret need a join token from the
// application's backend; TokenFunc fetches a fresh one for every join,
// the client's own rejoins included.
func ExampleClient_Join_token() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "https://meet.example.com", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_, err = c.Join(ctx, "team-7-daily", client.JoinOptions{
		TokenFunc: func(room string) (string, error) { return myBackendToken(room) },
	})
	var refused *client.Error
	if errors.As(err, &refused) && refused.Code == wire.CodeUnauthorized {
		fmt.Println("the backend's token was refused:", refused.Message)
	}
}

func myBackendToken(string) (string, error) { return "", nil }

// A program behind a proxy that refuses WebSocket upgrades can skip
// straight to server-sent events.
func ExampleOptions_transports() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "https://meet.example.com", client.Options{
		Transports: []client.Transport{client.SSE, client.Poll},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("carried by", c.Transport())
}
