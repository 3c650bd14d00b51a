package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/switchboard-rtc/switchboard/signaling/state"
)

// nodeProcess is this test binary running as switchboard on a state file,
// so that a test can stop it with SIGTERM and start the next one.
type nodeProcess struct {
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{}
	lines  chan string // log lines, for waitLog
	err    error       // cmd.Wait's, once exited is closed
}

// startNode runs switchboard on addr with stateFile and returns once it
// logged a line matching ready.
func startNode(t testing.TB, addr, stateFile string, ready string, extra ...string) *nodeProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-http", addr, "-turn", "", "-public-ip", "127.0.0.1", "-memory-trim=false",
		"-state-file", stateFile, "-shutdown-timeout", "5s", "-log-level", "debug"}, extra...)
	n := &nodeProcess{cmd: exec.Command(exe, args...), log: &syncBuffer{}, exited: make(chan struct{}), lines: make(chan string, 256)}
	n.cmd.Env = append(os.Environ(), runMainEnv+"=1")
	pr, pw := io.Pipe()
	n.cmd.Stdout, n.cmd.Stderr = n.log, pw
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.err = n.cmd.Wait()
		pw.Close()
		close(n.exited)
	}()
	go func() {
		defer close(n.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(n.log, sc.Text())
			select {
			case n.lines <- sc.Text():
			default: // nobody waits for this one
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			t.Logf("switchboard %s:\n%s", addr, n.log)
		}
	})
	n.waitLog(t, ready)
	return n
}

// waitLog returns the first log line from now on that matches re.
func (n *nodeProcess) waitLog(t testing.TB, re string) string {
	t.Helper()
	match := regexp.MustCompile(re)
	deadline := time.After(e2eTimeout)
	for {
		select {
		case line, ok := <-n.lines:
			if !ok {
				t.Fatalf("switchboard exited before logging %q:\n%s", re, n.log)
			}
			if match.MatchString(line) {
				return line
			}
		case <-deadline:
			t.Fatalf("switchboard did not log %q:\n%s", re, n.log)
		}
	}
}

// logLine is the line matching re the node logged, or logs next.
func (n *nodeProcess) logLine(t testing.TB, re string) string {
	t.Helper()
	match := regexp.MustCompile(re)
	for _, line := range strings.Split(n.log.String(), "\n") {
		if match.MatchString(line) {
			return line
		}
	}
	return n.waitLog(t, re)
}

// stop sends SIGTERM and waits for a clean exit.
func (n *nodeProcess) stop(t testing.TB) {
	t.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		if n.err != nil {
			t.Fatalf("switchboard exited with %v:\n%s", n.err, n.log)
		}
	case <-time.After(e2eTimeout):
		t.Fatalf("switchboard did not stop:\n%s", n.log)
	}
}

var httpAddrInLog = regexp.MustCompile(`http=(127\.0\.0\.1:\d+)`)

// newLoopbackPeer is a pion peer with host candidates on loopback only:
// its media path does not depend on the signaling node, as a call's does
// not.
func newLoopbackPeer(t *testing.T, sig *sigClient) *relayPeer {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	return wirePeer(t, sig, pc)
}

// TestRestartMidNegotiation: two pion peers are half-way through their
// negotiation when their node restarts. Alice's offer and candidates go
// out before (Bob has the offer, not the candidates: his channel had
// dropped), Bob's answer after. The next process was started first: it
// holds the port while the old one keeps its sessions, so the clients'
// reconnects are queued, not refused. Both channels end with 4000 resume,
// both sessions resume on the next process, every event arrives once and
// in order (sigClient fails on a gap, counts duplicates), nobody hears
// peer-left, and the call connects.
func TestRestartMidNegotiation(t *testing.T) {
	parallel(t)
	t.Run("overlap", func(t *testing.T) { restartMidNegotiation(t, true) })
	// As systemctl restart does: the next process starts once the old one
	// has exited, and the clients come back then.
	t.Run("sequential", func(t *testing.T) { restartMidNegotiation(t, false) })
}

func restartMidNegotiation(t *testing.T, overlap bool) {
	stateFile := filepath.Join(t.TempDir(), "state")
	first := startNode(t, "127.0.0.1:0", stateFile, "switchboard started")
	addr := httpAddrInLog.FindStringSubmatch(first.waitLogged(t))[1]
	base := "http://" + addr
	aliceSig, bobSig := dialOn(t, base, "ws"), dialOn(t, base, "ws")
	aliceSig.send(map[string]any{"type": "join", "room": "restart", "name": "alice"})
	aliceSig.next("joined")
	bobSig.send(map[string]any{"type": "join", "room": "restart", "name": "bob"})
	bobPeers := bobSig.next("joined")["peers"].([]any)
	bobJoined := aliceSig.next("peer-joined")

	alice, bob := newLoopbackPeer(t, aliceSig), newLoopbackPeer(t, bobSig)
	alice.remoteID = bobJoined["peer"].(map[string]any)["id"].(string)
	bob.remoteID = bobPeers[0].(map[string]any)["id"].(string)
	dc, err := alice.pc.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	alice.watch(dc)
	offer, err := alice.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(alice.pc)
	aliceSig.send(map[string]any{"type": "offer", "to": alice.remoteID, "sdp": offer.SDP})
	heldOffer := bobSig.next("offer")
	bobSig.cut() // Bob's channel drops: Alice's candidates wait in his log
	if err := alice.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(e2eTimeout):
		t.Fatal("alice gathered no candidates")
	}
	// Alice's candidates went out from pion's callbacks; a ping answered
	// says the node has relayed every one of them.
	aliceSig.send(map[string]any{"type": "ping", "id": "flushed"})
	if f := aliceSig.next("pong"); f["re"] != "flushed" {
		t.Fatalf("pong %v", f)
	}

	// The next process binds the port beside the first and waits.
	var second *nodeProcess
	if overlap {
		second = startNode(t, addr, stateFile, "waiting for the switchboard on this state file")
	}
	aliceEnded := aliceSig.willEnd()
	first.stop(t)
	var ce *websocket.CloseError
	if err := aliceEnded(); !errors.As(err, &ce) || ce.Code != 4000 || ce.Text != "resume" {
		t.Fatalf("alice's channel ended with %v, want close 4000 resume", err)
	}
	if !strings.Contains(first.log.String(), "sessions kept in the state file") {
		t.Fatalf("the first process kept no sessions:\n%s", first.log)
	}
	if !overlap {
		second = startNode(t, addr, stateFile, "switchboard started")
	}
	// With the overlap, resumes dialled now wait in the second process's
	// queue.
	bobSig.resumeOn("ws")
	aliceSig.resumeOn("ws")
	if line := second.logLine(t, "sessions restored from the state file"); !strings.Contains(line, "sessions=2") {
		t.Fatalf("restored: %s", line)
	}
	if _, err := os.Stat(stateFile); !os.IsNotExist(err) {
		t.Fatalf("the state file stayed after it was restored: %v", err)
	}

	bob.handle(t, heldOffer) // the answer goes out on the second process
	var aliceDC, bobDC *webrtc.DataChannel
	deadline := time.After(e2eTimeout)
	for aliceDC == nil || bobDC == nil {
		select {
		case f := <-aliceSig.frames:
			alice.handle(t, f) // a peer-left would fail here
		case f := <-bobSig.frames:
			bob.handle(t, f)
		case aliceDC = <-alice.opened:
		case bobDC = <-bob.opened:
		case <-deadline:
			t.Fatalf("data channel did not open: alice %s, bob %s", alice.pc.ICEConnectionState(), bob.pc.ICEConnectionState())
		}
	}
	if err := bobDC.SendText("after the restart"); err != nil {
		t.Fatal(err)
	}
	expectText(t, alice.received, "after the restart")
	for name, c := range map[string]*sigClient{"alice": aliceSig, "bob": bobSig} {
		c.mu.Lock()
		dups := c.dups
		c.mu.Unlock()
		if dups != 0 {
			t.Errorf("%s was sent %d events twice", name, dups)
		}
	}
}

// waitLogged is the line that said the node started (startNode waited
// for it), from the log kept so far.
func (n *nodeProcess) waitLogged(t testing.TB) string {
	t.Helper()
	for _, line := range strings.Split(n.log.String(), "\n") {
		if strings.Contains(line, "switchboard started") {
			return line
		}
	}
	t.Fatalf("no start line:\n%s", n.log)
	return ""
}

// TestStateFileRefused: a node started on a state file it cannot trust
// says so in one line, sets the file aside and starts with no sessions.
func TestStateFileRefused(t *testing.T) {
	parallel(t)
	stateFile := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(stateFile, fmt.Appendf(nil, "switchboard-state %d 10 00\n{not ours}", state.Version), 0o600); err != nil {
		t.Fatal(err)
	}
	node := startNode(t, "127.0.0.1:0", stateFile, "switchboard started")
	refused := 0
	for _, line := range strings.Split(node.log.String(), "\n") {
		if strings.Contains(line, "state file refused") {
			refused++
			if !strings.Contains(line, "corrupt") {
				t.Errorf("refusal without its reason: %s", line)
			}
		}
	}
	if refused != 1 {
		t.Fatalf("%d lines say the state file was refused, want 1:\n%s", refused, node.log)
	}
	if _, err := os.Stat(stateFile + ".refused"); err != nil {
		t.Fatalf("the refused file was not set aside: %v", err)
	}
	addr := httpAddrInLog.FindStringSubmatch(node.waitLogged(t))[1]
	dialOn(t, "http://"+addr, "ws") // a new session, as ever
}

// TestStateFileHeldByAnother: a second process pointed at the state file
// a running one holds waits -state-wait for it, then gives up with the
// holder's pid and restores nothing; the first serves on.
func TestStateFileHeldByAnother(t *testing.T) {
	parallel(t)
	stateFile := filepath.Join(t.TempDir(), "state")
	first := startNode(t, "127.0.0.1:0", stateFile, "switchboard started")
	addr := httpAddrInLog.FindStringSubmatch(first.waitLogged(t))[1]
	sig := dialOn(t, "http://"+addr, "ws")
	second := startNode(t, "127.0.0.1:0", stateFile, "state file is in use by another process", "-state-wait", "200ms")
	select {
	case <-second.exited:
	case <-time.After(e2eTimeout):
		t.Fatal("the second process did not give up")
	}
	if second.err == nil || !strings.Contains(second.log.String(), fmt.Sprintf("held by process %d", first.cmd.Process.Pid)) {
		t.Fatalf("second process: %v, want an exit naming pid %d:\n%s", second.err, first.cmd.Process.Pid, second.log)
	}
	if strings.Contains(second.log.String(), "sessions restored") {
		t.Fatal("the second process restored sessions")
	}
	sig.send(map[string]any{"type": "ping", "id": "still"})
	sig.next("pong")
}

// TestStateFileUnwritable: a state file asked for by name in a directory
// that cannot be made stops the start with the reason; the default one
// only warns that sessions will end with the process.
func TestStateFileUnwritable(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file") // a directory in its place: permissions do not stop root
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	named := startNode(t, "127.0.0.1:0", filepath.Join(blocker, "state"), "cannot listen")
	<-named.exited
	if named.err == nil || !strings.Contains(named.log.String(), "state file directory") {
		t.Fatalf("exit %v:\n%s", named.err, named.log)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the default file needs a fixed port
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("STATE_DIRECTORY", "")
	t.Setenv("XDG_STATE_HOME", blocker)
	startNode(t, addr, "auto", "sessions will end with the process: no state file")
}

// TestStateFilePath: which state file a configuration names.
func TestStateFilePath(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "")
	t.Setenv("XDG_STATE_HOME", "/var/lib/x")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-http", ":8080"}, "/var/lib/x/switchboard/sessions-8080.state"},
		{[]string{"-http", "[::1]:8443"}, "/var/lib/x/switchboard/sessions-__1-8443.state"},
		{[]string{"-http", "127.0.0.1:0"}, ""}, // no fixed port: nothing to find it by next time
		{[]string{"-state-file", "off"}, ""},
		{[]string{"-state-file", "/run/sb.state"}, "/run/sb.state"},
		{[]string{"-state-file", "/run/sb.state", "-redis", "redis://127.0.0.1:6379"}, ""}, // a cluster hands sessions over
		{[]string{"-redis", "redis://127.0.0.1:6379"}, ""},
	} {
		c, err := parseConfig(tc.args, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.stateFile != tc.want {
			t.Errorf("%v: state file %q, want %q", tc.args, c.stateFile, tc.want)
		}
	}
	t.Setenv("STATE_DIRECTORY", "/var/lib/switchboard:/var/lib/other")
	if c, err := parseConfig([]string{"-http", ":8080"}, func(string) string { return "" }, io.Discard); err != nil || c.stateFile != "/var/lib/switchboard/sessions-8080.state" {
		t.Errorf("under systemd's StateDirectory=: %q, %v", c.stateFile, err)
	}
}
