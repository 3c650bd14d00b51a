package main

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API scheme fixes HMAC-SHA1
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v4"
)

// allocLoad makes allocations and gives them back (Allocate, then
// Refresh with lifetime 0) until deadline, one at a time per worker, each
// from a fresh socket with REST credentials from secret.
func allocLoad(server string, worker int, secret string, deadline time.Time, done, failed *atomic.Uint64) error {
	for i := 0; time.Now().Before(deadline); i++ {
		if err := allocOnce(server, fmt.Sprintf("w%d-%d", worker, i), secret); err != nil {
			failed.Add(1)
			continue
		}
		done.Add(1)
	}
	return nil
}

func allocOnce(server, user, secret string) error {
	conn, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		return err
	}
	defer conn.Close()
	username := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + ":" + user
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: username, Password: base64.StdEncoding.EncodeToString(mac.Sum(nil)),
		RTO: 200 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		return err
	}
	relay, err := client.Allocate()
	if err != nil {
		return err
	}
	return relay.Close() // Refresh(0)
}
