package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestBrowserHints drives each broken set-up of brokenSetups that has
// browser expectations through Chromium: the pre-call test's rows, and
// the tiles of a relay-only call between two pages, say what check says
// (TestCheckNamesTheCause). The set-ups run side by side: each waits on
// ICE timeouts, not on the CPU.
func TestBrowserHints(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	b := newBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			b.dump(t)
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	type running struct {
		s                   brokenSetup
		precall, alice, bob *tab
	}
	var runs []running
	for i, s := range brokenSetups() {
		if s.precall == nil && s.tile == nil {
			continue
		}
		app, _ := s.start(t)
		r := running{s: s, precall: startPrecallTest(t, b, app, fmt.Sprintf("hints-%d-precall", i), nil, deadline)}
		room := fmt.Sprintf("hints-%d-%d", i, time.Now().UnixNano())
		r.alice = b.openCall(t, fmt.Sprintf("hints-%d-alice", i), callPageURL(app.httpURL, room, "Alice", "ws"))
		r.bob = b.openCall(t, fmt.Sprintf("hints-%d-bob", i), callPageURL(app.httpURL, room, "Bob", "ws"))
		runs = append(runs, r)
	}
	for _, r := range runs {
		t.Run(r.s.name, func(t *testing.T) {
			rows := precallRows(t, b, r.precall, deadline)
			for id, parts := range r.s.precall {
				row := rows[id]
				if row.Status != "fail" {
					t.Errorf("pre-call %s: %+v, want a failure", id, row)
				}
				for _, p := range parts {
					if !strings.Contains(row.Hint, p) {
						t.Errorf("pre-call %s: hint %q lacks %q", id, row.Hint, p)
					}
				}
			}
			for _, tb := range []*tab{r.alice, r.bob} {
				tb.waitFor(t, deadline, "the tile to name the cause", `(() => {
					const tile = document.querySelector("#tiles .tile.remote");
					if (!tile) return "no remote tile";
					const box = tile.querySelector(".tile-problem");
					const title = box.querySelector(".problem-title").textContent;
					const hint = box.querySelector(".problem-hint").textContent;
					if (box.hidden) return "no problem shown; status " + tile.querySelector(".tile-status").textContent;
					const want = `+jsString(strings.Join(r.s.tile[1:], "\n"))+`.split("\n");
					if (!title.startsWith(`+jsString(r.s.tile[0])+`)) return "title " + title + ": " + hint;
					const missing = want.filter((w) => !hint.includes(w));
					return missing.length ? "hint " + hint + " lacks " + missing.join(", ") : "";
				})()`)
				said, _ := eval[string](tb, `document.querySelector("#tiles .tile.remote .tile-problem").innerText`)
				t.Logf("%s's tile: %s", tb.name, said)
			}
			b.screenshots(t, r.alice)
		})
	}
}
