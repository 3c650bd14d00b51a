package wire

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzSendBody: any POST body splits into messages or a bad_json /
// too_large refusal; an object body is one message, an array its
// elements, and the slots line up with what encoding/json sees.
func FuzzSendBody(f *testing.F) {
	for _, seed := range []string{
		`{"type":"ping"}`, `[{"type":"ping"},{"type":"leave"}]`, `[]`, ` [1,"x",null] `,
		`{`, `[`, `null`, `"x"`, `[{"a":1}`, "\xff", `[[]]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := SplitBatch(body)
		if err != nil {
			if err.Code != CodeBadJSON && err.Code != CodeTooLarge || err.Message == "" {
				t.Fatalf("error %+v", err)
			}
			return
		}
		trimmed := bytes.TrimSpace(body)
		if trimmed[0] == '{' {
			if len(msgs) != 1 {
				t.Fatalf("object body gave %d messages", len(msgs))
			}
			return
		}
		var raw []json.RawMessage
		if json.Unmarshal(trimmed, &raw) != nil || len(raw) != len(msgs) || len(msgs) > MaxBatch {
			t.Fatalf("array body gave %d messages", len(msgs))
		}
		for _, m := range msgs {
			DecodeRequest(m) // must not panic
		}
	})
}
