// Package natlab builds scripts/natlab.sh's NAT lab for a test and lets
// the test act inside it: run a command in a namespace, open sockets there
// from this process, or hand pion a transport.Net whose sockets live
// there. The script holds the topology and the nftables rules; this
// package only names the lab, removes it on every exit path and enters
// its namespaces.
package natlab

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Pub and Alt are switchboard's addresses on the public segment; Alt is
// the second address RFC 5780 needs.
var (
	Pub = net.IPv4(198, 18, 0, 1)
	Alt = net.IPv4(198, 18, 0, 2)
)

// Network is one client network behind its router.
type Network struct {
	Name      string // e.g. "sym"
	Behaviour string // the router's: eim-eif, eim-adf, eim-apdf, apdm, tcp-only, tcp443
	Client    net.IP // the client's own address
	WAN       net.IP // the router's public address, the client's mapped one
}

// UDP reports whether the router lets UDP out.
func (n Network) UDP() bool { return n.Behaviour != "tcp-only" && n.Behaviour != "tcp443" }

// Lab is one built lab, removed when its test ends.
type Lab struct {
	Name     string
	Networks []Network
	script   string
}

// Start builds a lab under a name no other run uses, after removing labs
// whose test process is gone. Without CAP_NET_ADMIN, ip or nft the test
// skips, or fails under CI=true.
func Start(t testing.TB) *Lab {
	t.Helper()
	if why := missing(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NAT lab: %s (CI must run the lab)", why)
		}
		t.Skipf("NAT lab: %s", why)
	}
	l := &Lab{Name: "nl" + randomHex(4), script: scriptPath()}
	if out, err := exec.Command("bash", l.script, "sweep").CombinedOutput(); err != nil {
		t.Fatalf("natlab.sh sweep: %v\n%s", err, out)
	}
	// Registered before up: a half-built lab goes too.
	t.Cleanup(func() {
		down := exec.Command("bash", l.script, "down", l.Name)
		down.Env = append(os.Environ(), fmt.Sprintf("NATLAB_OWNER=%d", os.Getpid()))
		if out, err := down.CombinedOutput(); err != nil {
			t.Errorf("natlab.sh down %s: %v\n%s", l.Name, err, out)
		}
	})
	up := exec.Command("bash", l.script, "up", l.Name)
	up.Env = append(os.Environ(), fmt.Sprintf("NATLAB_OWNER=%d", os.Getpid()))
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("natlab.sh up %s: %v\n%s", l.Name, err, out)
	}
	out, err := exec.Command("bash", l.script, "nets").Output()
	if err != nil {
		t.Fatalf("natlab.sh nets: %v", err)
	}
	l.Networks = parseNets(out)
	return l
}

// missing says what the lab cannot be built without, "" when nothing.
func missing() string {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return "capget: " + err.Error()
	}
	if data[0].Effective&(1<<unix.CAP_NET_ADMIN) == 0 {
		return "no CAP_NET_ADMIN (run as root)"
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not installed (apt-get install iproute2 nftables)"
		}
	}
	return ""
}

func parseNets(out []byte) []Network {
	var nets []Network
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 {
			nets = append(nets, Network{Name: f[0], Behaviour: f[1], Client: net.ParseIP(f[2]).To4(), WAN: net.ParseIP(f[3]).To4()})
		}
	}
	return nets
}

// scriptPath is scripts/natlab.sh beside this source file's module root.
func scriptPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "scripts", "natlab.sh")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Network returns the client network called name.
func (l *Lab) Network(name string) Network {
	for _, n := range l.Networks {
		if n.Name == name {
			return n
		}
	}
	panic("natlab: no network " + name)
}

// PubNS is the public segment's namespace, where switchboard runs.
func (l *Lab) PubNS() string { return l.Name + "-pub" }

// ClientNS is the namespace of the client behind network name's router.
func (l *Lab) ClientNS(name string) string { return l.Name + "-c-" + name }

// RouterNS is network name's router.
func (l *Lab) RouterNS(name string) string { return l.Name + "-r-" + name }

// Command runs name in namespace ns (ip netns exec). The lab's removal
// kills what is still running there.
func (l *Lab) Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Do runs f on an OS thread that has entered namespace ns: sockets f
// opens belong to ns for their whole life, whichever thread uses them
// later. The thread goes back to its own namespace after f; if it cannot,
// the goroutine ends locked and the runtime ends the thread, so no other
// goroutine ever runs in ns by accident.
func Do(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("natlab: this thread's namespace: %w", err)
			return
		}
		defer unix.Close(home)
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("natlab: open namespace %s: %w", ns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("natlab: enter namespace %s: %w", ns, err)
			return
		}
		errc <- f()
		if unix.Setns(home, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}
