package turn

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// coturnClient finds coturn's turnutils_uclient. A missing client may skip
// locally but fails in CI, where .ci/run installs it.
func coturnClient(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("turnutils_uclient (Debian package coturn) is not installed")
		}
		t.Skip("turnutils_uclient not installed: apt-get install coturn")
	}
	return path
}

var uclientTotals = regexp.MustCompile(`start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)

// TestCoturnClientRelays drives coturn's real client through our relay in
// client-to-client mode (-y): two allocations on this server relay to each
// other, authenticated with the shared secret (-W) in the REST API scheme.
func TestCoturnClientRelays(t *testing.T) {
	uclient := coturnClient(t)
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			r := startRelay(t, nil)
			addr, args := r.udp, []string{"-y", "-W", testSecret, "-n", "10", "-m", "1", "-l", "300", "-c", "-X"}
			if network == "tcp" {
				addr, args = r.tcp, append(args, "-t")
			}
			host, port := splitHostPort(t, addr)
			args = append(args, "-p", port)
			out := runUclient(t, uclient, append(args, host)...)
			m := uclientTotals.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no totals in output:\n%s", out)
			}
			sent, _ := strconv.Atoi(m[1])
			recv, _ := strconv.Atoi(m[2])
			if sent == 0 || recv != sent {
				t.Fatalf("sent %d, received %d:\n%s", sent, recv, out)
			}
		})
	}
}

func TestCoturnClientRefused(t *testing.T) {
	uclient := coturnClient(t)
	r := startRelay(t, nil)
	host, port := splitHostPort(t, r.udp)
	expiredUser, expiredPass := Credentials([]byte(testSecret), "x", -time.Minute, time.Now())
	for name, creds := range map[string][]string{
		"wrong secret": {"-W", "not-the-secret"},
		"expired":      {"-u", expiredUser, "-w", expiredPass},
	} {
		args := append(append([]string{"-y", "-n", "2", "-m", "1", "-c", "-X", "-p", port}, creds...), host)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, uclient, args...).CombinedOutput()
		cancel()
		if err == nil {
			t.Errorf("%s: uclient succeeded:\n%s", name, out)
		}
		if m := uclientTotals.FindStringSubmatch(string(out)); m != nil && m[2] != "0" {
			t.Errorf("%s: relayed %s messages", name, m[2])
		}
	}
}

func runUclient(t *testing.T, path string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("turnutils_uclient %v: %v\n%s", args, err, out)
	}
	return string(out)
}
