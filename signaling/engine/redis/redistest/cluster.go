package redistest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Cluster is a real Redis Cluster of masters on loopback ports, no
// replicas, persistence off, stopped when the test ends.
type Cluster struct {
	Masters []*Server
}

// StartCluster runs n redis-server processes with --cluster-enabled,
// joins them with redis-cli --cluster create and waits until the cluster
// reports ok. Without redis-server or redis-cli it skips, and fails under
// CI=true.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	needTool(t, "redis-cli", "redis-tools")
	c := &Cluster{}
	for i := range n {
		dir := t.TempDir()
		c.Masters = append(c.Masters, start(t, func(port int) []string {
			return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
				"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i)),
				"--cluster-node-timeout", "5000", "--enable-debug-command", "local"}
		}))
	}
	args := []string{"--cluster", "create"}
	for _, m := range c.Masters {
		args = append(args, m.Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// The nodes agree on the slots through gossip: wait for every one to
	// say ok, bounded.
	for _, m := range c.Masters {
		for !strings.Contains(clusterInfo(ctx, m.Addr()), "cluster_state:ok") {
			select {
			case <-ctx.Done():
				t.Fatalf("redis cluster node %s never reported ok", m.Addr())
			case <-time.After(50 * time.Millisecond): // gossip has no event to wait on: poll, bounded
			}
		}
	}
	return c
}

func clusterInfo(ctx context.Context, addr string) string {
	out, _ := exec.CommandContext(ctx, "redis-cli", "-h", "127.0.0.1", "-p", strings.TrimPrefix(addr, "127.0.0.1:"),
		"cluster", "info").Output()
	return string(bytes.TrimSpace(out))
}

// Client returns a go-redis cluster client of c, closed when the test
// ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	var addrs []string
	for _, m := range c.Masters {
		addrs = append(addrs, m.Addr())
	}
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	t.Cleanup(func() { cl.Close() })
	return cl
}
