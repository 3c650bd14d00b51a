package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/engine"
	redisengine "github.com/switchboard-rtc/switchboard/signaling/engine/redis"
	"github.com/switchboard-rtc/switchboard/stun"
	"github.com/switchboard-rtc/switchboard/turn"
)

// clusterEngine connects to -redis, when set, and returns the engine
// every node shares, and a function that disconnects. Without -redis it
// is nil: the signaling server keeps everything in memory.
func clusterEngine(ctx context.Context, c *config, log *slog.Logger) (engine.Engine, func(), error) {
	if c.Redis == "" {
		return nil, func() {}, nil
	}
	clients, err := redisengine.ParseURLs(c.Redis)
	if err != nil {
		return nil, nil, err
	}
	closeClients := func() {
		for _, client := range clients {
			_ = client.Close()
		}
	}
	var publicURL string
	if urls := c.publicURLs(); len(urls) > 0 {
		publicURL = urls[0]
	}
	eng, err := redisengine.New(ctx, redisengine.Config{
		Shards:    clients,
		Limits:    engine.ReplayLimits{Events: c.ReplayEvents, Bytes: c.ReplayBytes},
		MaxPeers:  c.RoomSize,
		Grace:     c.ResumeGrace,
		PublicURL: publicURL,
		Logger:    log.With("component", "redis"),
	})
	if err != nil {
		closeClients()
		return nil, nil, fmt.Errorf("-redis: %w", err)
	}
	log.Info("sharing rooms and sessions through redis", "node", eng.NodeID(), "shards", eng.Shards())
	return eng, func() { _ = eng.Close(); closeClients() }, nil
}

// turnPool starts the health checks of -turn-urls, when set; nil without.
func turnPool(c *config, log *slog.Logger) (*signaling.TURNPool, error) {
	hosts := splitList(c.TURNURLs)
	if len(hosts) == 0 {
		return nil, nil
	}
	secret := []byte(c.TURNSecret)
	return signaling.NewTURNPool(signaling.TURNPoolConfig{
		Hosts: hosts,
		Mint: func(user string) (string, string, time.Duration) {
			username, password := turn.Credentials(secret, user, c.CredentialTTL, time.Now())
			return username, password, c.CredentialTTL
		},
		Check:  stun.Probe,
		Logger: log.With("component", "turn-pool"),
	})
}
