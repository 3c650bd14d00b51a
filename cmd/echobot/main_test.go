package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/client"
)

// TestEchobotAnswersChat: the bot joins the room of a real server and
// answers a chat line; another bot's echo it leaves alone.
func TestEchobotAnswersChat(t *testing.T) {
	srv, err := signaling.New(signaling.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		_ = srv.Shutdown(ctx)
	}()
	url := "http://" + ln.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(ctx, "bots", client.JoinOptions{Name: "Ada"}); err != nil {
		t.Fatal(err)
	}
	botCtx, stopBot := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() {
		ran <- run(botCtx, url, "bots", client.JoinOptions{Name: "echobot"}, slog.New(slog.DiscardHandler))
	}()
	defer func() {
		stopBot()
		if err := <-ran; err != nil {
			t.Errorf("bot: %v", err)
		}
	}()
	for {
		var ev client.Event
		select {
		case ev = <-c.Events():
		case <-ctx.Done():
			t.Fatal("no answer from the bot in time")
		}
		switch ev := ev.(type) {
		case client.PeerJoined:
			_ = c.SendMessage("", map[string]string{"kind": "chat", "text": echoPrefix + "from another bot"})
			_ = c.SendMessage("", map[string]string{"kind": "chat", "text": "hello"})
		case client.Message:
			var chat struct{ Kind, Text string }
			_ = json.Unmarshal(ev.Data, &chat)
			if chat.Text != echoPrefix+"hello" {
				t.Fatalf("bot said %s", ev.Data)
			}
			return
		}
	}
}
