package redis

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, raw := range []string{"redis://127.0.0.1:6379/0", "rediss://u:p@example.com:6380", "redis://127.0.0.1:26379?master_name=m",
		"redis+cluster://127.0.0.1:7000?addr=127.0.0.1:7001"} {
		c, err := ParseURL(raw)
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		c.Close()
	}
	for _, raw := range []string{"http://127.0.0.1:6379", "redis://u:hunter2@127.0.0.1:6379?bogus=1", "redis://u:hunter2@[::1"} {
		_, err := ParseURL(raw)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %v, want one without the password", raw, err)
		}
	}
}

func TestParseURLs(t *testing.T) {
	clients, err := ParseURLs("redis://127.0.0.1:6379, redis://127.0.0.1:6380,redis+cluster://127.0.0.1:7000")
	if err != nil || len(clients) != 3 {
		t.Fatalf("three shards: %d clients, %v", len(clients), err)
	}
	for _, c := range clients {
		c.Close()
	}
	_, err = ParseURLs("redis://127.0.0.1:6379,redis://u:hunter2@127.0.0.1:6380?bogus=1")
	if err == nil || !strings.Contains(err.Error(), "shard 2 of 2") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("a bad second shard: %v, want it named, without its password", err)
	}
}
