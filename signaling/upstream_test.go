package signaling

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TestUpstreamHandledOnce: frames a client numbers with cseq are handled
// once each, however often they are sent: after a resume (which says the
// last one handled), in a POST sent again, refused ones included. Frames
// without cseq are handled every time, as before.
func TestUpstreamHandledOnce(t *testing.T) {
	srv, url := startServer(t, Config{})
	base := httpBase(url)
	alice, bob := dial(t, url, nil), dial(t, url, nil)
	alice.join("r")
	bob.join("r")
	alice.expect("peer-joined")
	msg := func(cseq int, data string) frame {
		return frame{"type": "message", "to": bob.id, "data": data, "cseq": cseq}
	}
	expectData := func(want string) {
		t.Helper()
		if f := bob.expect("message"); f["data"] != want {
			t.Fatalf("bob got %v, want data %q", f, want)
		}
	}
	for i := 1; i <= 5; i++ {
		alice.send(msg(i, fmt.Sprint("m", i)))
	}
	for i := 1; i <= 5; i++ {
		expectData(fmt.Sprint("m", i))
	}

	// A drop, then a resume that says what was handled; the client sends
	// again what it is unsure of, and only the new frame goes through.
	alice.ws.Close()
	token := alice.welcome.str("token")
	again := dialRaw(t, fmt.Sprintf("%s?token=%s&after=%d", url, token, 3))
	if r := again.expect("resumed"); r["applied"] != float64(5) {
		t.Fatalf("resumed %v: want applied 5", r)
	}
	again.id = alice.id
	for i := 4; i <= 6; i++ {
		again.send(msg(i, fmt.Sprint("m", i)))
	}
	expectData("m6")
	bob.alive() // nothing else came

	// POST: a duplicate answers null and is not relayed; a refused frame
	// is handled too (sent again, it is skipped, not refused twice).
	body := func(frames ...frame) string { b, _ := json.Marshal(frames); return string(b) }
	answer := func(b string) string {
		t.Helper()
		status, ans := post(t, base, token, b)
		if status != http.StatusOK {
			t.Fatalf("post %s: %d %s", b, status, ans)
		}
		return string(ans)
	}
	first := body(msg(6, "m6 again"), msg(7, "m7"), frame{"type": "message", "to": "nobody", "data": "x", "cseq": 8})
	if got := answer(first); !strings.HasPrefix(got, `[null,null,{"type":"error","code":"unknown_peer"`) {
		t.Fatalf("first post: %s", got)
	}
	if got := answer(first); got != `[null,null,null]` {
		t.Fatalf("the same post again: %s, want every frame skipped", got)
	}
	expectData("m7")

	// A cseq that is not a whole number from 1 to 2^53-1 is refused and
	// moves nothing on; frames without one are never skipped.
	for _, bad := range []string{`-1`, `1.5`, `"9"`, `9007199254740992`, `09`} {
		got := answer(fmt.Sprintf(`{"type":"message","to":%q,"data":"bad","cseq":%s}`, bob.id, bad))
		if got == `[null]` {
			t.Fatalf("cseq %s accepted", bad)
		}
	}
	for range 2 {
		answer(body(frame{"type": "message", "to": bob.id, "data": "plain"}))
		expectData("plain")
	}
	answer(body(msg(9, "m9"), frame{"type": "ping", "id": "p", "cseq": 9}))
	expectData("m9")
	again.alive() // the skipped ping got no pong: this one is next
	bob.alive()
	if n := testutil.ToFloat64(srv.metrics.duplicates); n != 7 {
		t.Fatalf("duplicates counted: %v, want 7", n)
	}
}

// TestPostToMovedSession: a POST that reaches a session as it moves to
// another node (or ends) is not answered as if its frames were handled:
// it fails with session_moved, and the client resumes and sends it again.
func TestPostToMovedSession(t *testing.T) {
	srv, url := startServer(t, Config{})
	alice := dial(t, url, nil)
	alice.join("r")
	sess := srv.lookup(alice.welcome.str("token"))
	sess.Release(wire.CodeReplaced) // as when another node adopts it
	ans := sess.post(postRequest{Body: []byte(`[{"type":"ping","cseq":1}]`)})
	if ans.Status != http.StatusServiceUnavailable || ans.Refusal == nil || ans.Refusal.Code != wire.CodeSessionMoved {
		t.Fatalf("POST to a released session: %+v", ans)
	}
	if sess.log.Applied() != 0 {
		t.Fatalf("the frame counts as handled (applied %d)", sess.log.Applied())
	}
}
