package signaling

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeRequest: any frame decodes to a request or a client error with
// a known code, never a panic; accepted requests re-encode as relay frames.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"type":"join","room":"a","name":"Al","id":1}`,
		`{"type":"offer","to":"x","sdp":"v=0\r\n"}`,
		`{"type":"candidate","to":"x","candidate":null}`,
		`{"type":"candidate","to":"x","candidate":{"candidate":"c","sdpMid":"0"}}`,
		`{"type":"message","data":[1,{"a":"b"}],"id":"q"}`,
		`{"type":"leave"}`, `{"type":"ping","id":null}`, `[]`, `"x"`, `{"type":7}`,
	} {
		f.Add([]byte(seed))
	}
	known := map[string]bool{CodeBadJSON: true, CodeUnknownType: true, CodeMissingField: true, CodeBadRoom: true, CodeBadName: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := decodeRequest(data)
		if err != nil {
			if !known[err.Code] || err.Message == "" {
				t.Fatalf("error %+v", err)
			}
			if len(req.ID) > 0 && !isScalarID(req.ID) {
				t.Fatalf("would echo non-scalar id %s", req.ID)
			}
			return
		}
		out := encode(relayFrame{Type: req.Type, From: "f", To: req.To, SDP: req.SDP, Candidate: req.Candidate, Data: req.Data})
		if !json.Valid(out) {
			t.Fatalf("invalid relay frame %s", out)
		}
	})
}
