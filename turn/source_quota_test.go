package turn

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A 40-port relay range: the default quotas are 20 in total and 5 per
// source. The range sits below the other tests' 40000-60000.
const smallRangeMin, smallRangeMax = 39100, 39139

// allocateUntilRefused allocates over UDP from local with credentials of
// users in turn, at most limit times, and returns the allocations made
// and the error that stopped it (nil if none did).
func allocateUntilRefused(t *testing.T, r *testRelay, local string, users []string, limit int) (int, error) {
	t.Helper()
	for i := range limit {
		u, p := Credentials([]byte(testSecret), users[i%len(users)], time.Hour, time.Now())
		c, err := r.newClientFrom(t, "udp", local, u, p).Allocate()
		if err != nil {
			return i, err
		}
		t.Cleanup(func() { c.Close() })
	}
	return limit, nil
}

// TestSourceQuotaDefault: credentials of several users (sessions) used
// from one address cannot take more than the per-source quota, which by
// default is derived from the relay port range; a newcomer from another
// address still allocates, over UDP and TCP.
func TestSourceQuotaDefault(t *testing.T) {
	r := startRelay(t, func(c *Config) { c.RelayPortMin, c.RelayPortMax = smallRangeMin, smallRangeMax })
	n, err := allocateUntilRefused(t, r, "127.0.0.1", []string{"s1", "s2", "s3", "s4"}, smallRangeMax-smallRangeMin+1)
	if n != 5 || err == nil || !strings.Contains(err.Error(), "486: Allocation Quota Reached: source-quota") {
		t.Fatalf("one source allocated %d of 40 ports, then %v; want 5, then 486 source-quota", n, err)
	}
	u, p := Credentials([]byte(testSecret), "s5", time.Hour, time.Now())
	if c, err := r.newClient(t, "tcp", u, p).Allocate(); err == nil || !strings.Contains(err.Error(), "source-quota") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("a sixth allocation from the source over TCP: %v, want 486 source-quota", err)
	}
	for _, network := range []string{"udp", "tcp"} {
		u, p := Credentials([]byte(testSecret), "newcomer-"+network, time.Hour, time.Now())
		c, err := r.newClientFrom(t, network, "127.0.0.2", u, p).Allocate()
		if err != nil {
			t.Fatalf("newcomer from another source over %s: %v", network, err)
		}
		defer c.Close()
	}
	if got := testutil.ToFloat64(r.srv.metrics.quotaSource); got != 2 {
		t.Errorf("quota_source refusals %v, want 2", got)
	}
}

// TestTotalQuotaLeavesRoom: the default total quota refuses with a 486
// while half the relay ports are still free, instead of the relay
// running out of ports (508).
func TestTotalQuotaLeavesRoom(t *testing.T) {
	r := startRelay(t, func(c *Config) {
		c.RelayPortMin, c.RelayPortMax, c.SourceQuota = smallRangeMin, smallRangeMax, -1
	})
	n, err := allocateUntilRefused(t, r, "127.0.0.1", []string{"t1", "t2"}, smallRangeMax-smallRangeMin+1)
	if n != 20 || err == nil || !strings.Contains(err.Error(), "486: Allocation Quota Reached: total-quota") {
		t.Fatalf("allocated %d of 40 ports, then %v; want 20, then 486 total-quota", n, err)
	}
	if got := testutil.ToFloat64(r.srv.metrics.quotaTotal); got != 1 {
		t.Errorf("quota_total refusals %v, want 1", got)
	}
	free := listenInRange(t, smallRangeMin, smallRangeMax) // fails the test if none is
	free.Close()
}

// TestSourceQuotaCountsPrefixes: IPv6 addresses count by /64, IPv4 by
// address; a release frees the source's slot.
func TestSourceQuotaCountsPrefixes(t *testing.T) {
	q := newQuotas(0, 2, 0)
	addr := func(s string) net.Addr { return net.UDPAddrFromAddrPort(mustAddrPort(t, s)) }
	for _, tc := range []struct {
		src  string
		want string
	}{
		{"[2001:db8:1:2::1]:1000", ""},
		{"[2001:db8:1:2:ffff::9]:1000", ""},
		{"[2001:db8:1:2::77]:2000", refusedSource}, // third of one /64
		{"[2001:db8:1:3::1]:1000", ""},             // the next /64
		{"192.0.2.1:1000", ""},
		{"192.0.2.1:1001", ""},
		{"192.0.2.1:1002", refusedSource},
		{"192.0.2.2:1000", ""}, // IPv4 counts by /32
		{"[::ffff:192.0.2.1]:1003", refusedSource},
	} {
		if got := q.reserve("u-"+tc.src, addr(tc.src)); got != tc.want {
			t.Errorf("reserve from %s: %q, want %q", tc.src, got, tc.want)
		}
	}
	q.failed(addr("[2001:db8:1:2::1]:1000"))
	if got := q.reserve("u", addr("[2001:db8:1:2::77]:2000")); got != "" {
		t.Errorf("after a release: %q", got)
	}
	if n := q.sourceCount(addr("[2001:db8:1:2::5]:1")); n != 2 {
		t.Errorf("/64 holds %d, want 2", n)
	}
}

func TestDefaultQuotas(t *testing.T) {
	for _, tc := range []struct{ ports, total, perSource int }{
		{16384, 8192, 256}, // 49152-65535
		{200, 100, 25},
		{40, 20, 5},
		{1, 1, 1},
	} {
		if total, perSource := defaultQuotas(tc.ports); total != tc.total || perSource != tc.perSource {
			t.Errorf("%d ports: total %d, per source %d; want %d, %d", tc.ports, total, perSource, tc.total, tc.perSource)
		}
	}
	// Options: unset derives, coturn's 0 is unlimited.
	for _, tc := range []struct {
		value       string
		set         bool
		total, srcQ int
	}{
		{set: false, total: 0, srcQ: 0},
		{value: "0", set: true, total: -1, srcQ: -1},
		{value: "-1", set: true, total: -1, srcQ: -1},
		{value: "7", set: true, total: 7, srcQ: 7},
	} {
		o := DefaultOptions()
		if tc.set {
			if err := o.Set("total-quota", tc.value, true); err != nil {
				t.Fatal(err)
			}
			if err := o.Set("source-quota", tc.value, true); err != nil {
				t.Fatal(err)
			}
		}
		var c Config
		if err := o.ApplyPolicy(&c); err != nil {
			t.Fatal(err)
		}
		if c.TotalQuota != tc.total || c.SourceQuota != tc.srcQ {
			t.Errorf("quotas %q: Config total %d, source %d; want %d, %d", tc.value, c.TotalQuota, c.SourceQuota, tc.total, tc.srcQ)
		}
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}
