package signaling

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// TestClientTag: a join's client (the page's secret for its tab) reaches
// peers only as a tag, per room, the same for every session the tab has:
// a tab that comes back as a new session is known for the same one, and
// no peer can pass for it.
func TestClientTag(t *testing.T) {
	_, url := startServer(t, Config{})
	const secret = "tab-5b0c1c4e-8f0e-4d55-9a49-2f7d7c3a9b11"
	tag := wire.ClientTag("r", secret)
	if len(tag) != 26 || strings.Contains(tag, secret) || tag == wire.ClientTag("other", secret) {
		t.Fatalf("tag %q: want 26 characters, no secret in it, another in another room", tag)
	}
	alice, bob := dial(t, url, nil), dial(t, url, nil)
	alice.send(frame{"type": "join", "room": "r", "client": secret})
	alice.expect("joined")
	bob.join("r")
	pj := alice.expect("peer-joined")
	if peer := pj["peer"].(map[string]any); peer["clientTag"] != nil {
		t.Fatalf("a join without client has a tag: %v", pj)
	}
	// Alice's next session (her old one ended) carries the same tag.
	alice.hangUp()
	bob.expect("peer-left")
	again := dial(t, url, nil)
	again.send(frame{"type": "join", "room": "r", "client": secret})
	joined := again.expect("joined")
	pj = bob.expect("peer-joined")
	peer := pj["peer"].(map[string]any)
	if peer["clientTag"] != tag || peer["id"] != again.id || strings.Contains(fmt.Sprint(joined, pj), secret) {
		t.Fatalf("peer-joined %v: want clientTag %s and never the secret", pj, tag)
	}
	for _, bad := range []string{"short", strings.Repeat("x", 65), "has space in it, long enough", "ünïcödé-but-long-enough"} {
		c := dial(t, url, nil)
		c.send(frame{"type": "join", "room": "r", "client": bad, "id": 1})
		if e := c.expect("error"); e.str("code") != wire.CodeBadClient {
			t.Fatalf("client %q: %v, want bad_client", bad, e)
		}
	}
}
