// Command echobot joins a Switchboard room as a Go program and echoes:
// every peer gets its own audio and video back, its data channel
// messages echoed, and the room's chat lines answered. An example of
// packages signaling/client and signaling/client/call.
//
//	go run ./cmd/echobot -url http://localhost:8080 -room standup-42
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/client"
	"github.com/switchboard-rtc/switchboard/signaling/client/call"
)

func main() {
	url := flag.String("url", "http://localhost:8080", "the Switchboard server")
	room := flag.String("room", "echo", "the room to join")
	name := flag.String("name", "echobot", "the name peers see")
	token := flag.String("join-token", "", "a join token, for a server started with -join-secret")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *url, *room, client.JoinOptions{Name: *name, Token: *token}, log); err != nil {
		log.Error("echobot", "err", err)
		os.Exit(1)
	}
}

// run keeps the bot in the room until ctx ends.
func run(ctx context.Context, url, room string, join client.JoinOptions, log *slog.Logger) error {
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := client.Dial(dialCtx, url, client.Options{Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := call.Join(dialCtx, c, room, join, call.Config{Setup: call.Loopback, Logger: log})
	if err != nil {
		return fmt.Errorf("join %s: %w", room, err)
	}
	defer r.Close()
	log.Info("in the room", "room", room, "session", c.Session())
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-r.Events():
			if !ok {
				return c.Err()
			}
			answerChat(c, ev, log)
		}
	}
}

const echoPrefix = "echo: "

// answerChat echoes a chat line of the demo page ({"kind":"chat","text"}).
func answerChat(c *client.Client, ev client.Event, log *slog.Logger) {
	switch ev := ev.(type) {
	case client.PeerJoined:
		log.Info("peer joined", "peer", ev.Peer.ID, "name", ev.Peer.Name)
	case client.Message:
		var chat struct{ Kind, Text string }
		if json.Unmarshal(ev.Data, &chat) != nil || chat.Kind != "chat" || strings.HasPrefix(chat.Text, echoPrefix) {
			return // not chat, or another bot's echo: no endless ping-pong
		}
		_ = c.SendMessage("", map[string]string{"kind": "chat", "text": echoPrefix + chat.Text})
	}
}
