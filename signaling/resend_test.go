package signaling

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling/engine/enginetest"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// postOne posts one frame with token and returns its answer: nil when
// accepted, else the error frame.
func postOne(t *testing.T, base, token string, msg frame) frame {
	t.Helper()
	b, _ := json.Marshal([]frame{msg})
	status, ans := post(t, base, token, string(b))
	var results []frame
	if status != http.StatusOK || json.Unmarshal(ans, &results) != nil || len(results) != 1 {
		t.Fatalf("post %s: status %d answer %s", b, status, ans)
	}
	return results[0]
}

// wantUnavailable fails unless e refuses frame cseq unavailable.
func wantUnavailable(t *testing.T, e frame, cseq int) {
	t.Helper()
	if e.str("code") != wire.CodeUnavailable || e["cseq"] != float64(cseq) {
		t.Fatalf("answer %v, want unavailable for cseq %d", e, cseq)
	}
}

// TestRelaySentAgainFirst: a relay refused unavailable is not handled:
// sent again under its cseq it goes, once. Until it comes again the
// session refuses newer numbered frames unavailable too, unhandled, so
// that they cannot overtake it; a bye still ends the session. A client
// that never sends it again is held up for ResendWait only.
func TestRelaySentAgainFirst(t *testing.T) {
	eng := enginetest.NewFlaky()
	const wait = 300 * time.Millisecond
	_, url := startServer(t, Config{Engine: eng, ResendWait: wait})
	base := httpBase(url)
	alice, bob := dial(t, url, nil), dial(t, url, nil)
	alice.join("r")
	bob.join("r")
	alice.expect("peer-joined")
	token := alice.welcome.str("token")
	msg := func(cseq int, data string) frame {
		return frame{"type": "message", "to": bob.id, "data": data, "cseq": cseq}
	}
	expectData := func(want string) {
		t.Helper()
		if m := bob.expect("message"); m.str("data") != want {
			t.Fatalf("bob got %v, want %q: lost, repeated or reordered", m, want)
		}
	}

	eng.Fails.Store(1)
	wantUnavailable(t, postOne(t, base, token, msg(1, "flaky 1")), 1)
	// Newer frames wait, whatever their type, and are not handled.
	e := postOne(t, base, token, msg(2, "two"))
	wantUnavailable(t, e, 2)
	if !strings.Contains(e.str("message"), "frame 1") {
		t.Fatalf("refusal %v does not name the frame to send first", e)
	}
	wantUnavailable(t, postOne(t, base, token, frame{"type": "ping", "id": "p", "cseq": 3}), 3)
	if e := postOne(t, base, token, msg(1, "flaky 1")); e != nil {
		t.Fatalf("frame 1 sent again: %v", e)
	}
	if e := postOne(t, base, token, msg(2, "two")); e != nil {
		t.Fatalf("frame 2 after frame 1: %v", e)
	}
	if e := postOne(t, base, token, msg(1, "flaky 1")); e != nil {
		t.Fatalf("frame 1 a third time: %v (want it skipped, unanswered)", e)
	}
	expectData("flaky 1")
	expectData("two")

	// A client that gives up on a refused frame: its next ones go once
	// the wait is over, and the refused one, too old now, never does.
	eng.Fails.Store(1)
	start := time.Now()
	wantUnavailable(t, postOne(t, base, token, msg(3, "flaky 3")), 3)
	for {
		e := postOne(t, base, token, msg(4, "four"))
		if e == nil {
			break
		}
		wantUnavailable(t, e, 4)
		if time.Since(start) > waitFor {
			t.Fatal("frame 4 still refused long after the wait")
		}
		time.Sleep(wait / 10) // the wait is what is under test: poll it, bounded above
	}
	if took := time.Since(start); took < wait {
		t.Fatalf("frame 4 went after %v, before the wait (%v) was over", took, wait)
	}
	if e := postOne(t, base, token, msg(3, "flaky 3")); e != nil {
		t.Fatalf("frame 3 after 4: %v (want it skipped, unanswered)", e)
	}
	postOK(t, base, token, msg(5, "five"))
	expectData("four")
	expectData("five")

	// A bye is not held up by a frame still to come again.
	eng.Fails.Store(1)
	wantUnavailable(t, postOne(t, base, token, msg(6, "flaky 6")), 6)
	if e := postOne(t, base, token, frame{"type": "bye", "cseq": 7}); e != nil {
		t.Fatalf("bye: %v", e)
	}
	if pl := bob.expect("peer-left"); pl["peer"].(map[string]any)["id"] != alice.id {
		t.Fatalf("peer-left %v", pl)
	}
}
