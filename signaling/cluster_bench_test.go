package signaling_test

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	redisengine "github.com/switchboard-rtc/switchboard/signaling/engine/redis"
	"github.com/switchboard-rtc/switchboard/signaling/engine/redis/redistest"
)

// BenchmarkClusterRelay measures the one-way latency of a 1.5 KB offer
// between two peers, one offer at a time: on one node in memory, on one
// node with -redis, and across two nodes sharing Redis; and, with Redis,
// what each relayed offer costs there (scripts: round trips; commands: all
// commands run, inside scripts too). One op is one offer.
//
//	go test ./signaling -run '^$' -bench ClusterRelay -benchtime 3000x -count 5
func BenchmarkClusterRelay(b *testing.B) {
	rs := redistest.Start(b)
	for _, tc := range clusterCases {
		b.Run(tc.name, func(b *testing.B) {
			url0, url1 := tc.nodes(b, rs)
			a, c := dialPeer(b, url0, tc.name), dialPeer(b, url1, tc.name)
			readUntil(b, a.ws, "peer-joined")
			frame := offerFrame(b, c.id, 1500)
			lat := make([]time.Duration, b.N)
			before := redisCalls(b, rs)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if err := a.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
					b.Fatal(err)
				}
				readUntil(b, c.ws, "offer")
				lat[i] = time.Since(start)
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			if tc.redis {
				after := redisCalls(b, rs)
				b.ReportMetric(float64(after["evalsha"]+after["eval"]-before["evalsha"]-before["eval"])/float64(b.N), "scripts/op")
				b.ReportMetric(float64(after[""]-before[""])/float64(b.N), "commands/op")
			}
		})
	}
}

// BenchmarkClusterThroughput is BenchmarkRelay's 16 pairs, 16 offers in
// flight each, in the same three set-ups (Redis, nodes and load tool on
// one machine).
//
//	go test ./signaling -run '^$' -bench ClusterThroughput -benchtime 20000x -count 3
func BenchmarkClusterThroughput(b *testing.B) {
	rs := redistest.Start(b)
	for _, tc := range clusterCases {
		b.Run(tc.name, func(b *testing.B) {
			url0, url1 := tc.nodes(b, rs)
			benchRelayOn(b, url0, url1, 16, 16, 1500)
		})
	}
}

type clusterCase struct {
	name         string
	redis, cross bool
}

var clusterCases = []clusterCase{{"memory", false, false}, {"redis-same-node", true, false}, {"redis-cross-node", true, true}}

// nodes starts the case's servers and returns the URLs for its two peers.
func (tc clusterCase) nodes(b *testing.B, rs *redistest.Server) (string, string) {
	node := func(id string) string {
		cfg := benchConfig()
		if tc.redis {
			eng, err := redisengine.New(context.Background(), redisengine.Config{
				Client: rs.Client(b), NodeID: id, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { eng.Close() }) // after the server's shutdown
			cfg.Engine = eng
		}
		return benchServerWith(b, cfg)
	}
	url0 := node(tc.name + "-0")
	if !tc.cross {
		return url0, url0
	}
	return url0, node(tc.name + "-1")
}

// redisCalls reads Redis's command counts: by command, and "" for all.
func redisCalls(b *testing.B, rs *redistest.Server) map[string]int64 {
	b.Helper()
	info, err := rs.Client(b).Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	calls := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		if name == "info" {
			continue
		}
		calls[name] += n
		calls[""] += n
	}
	return calls
}
