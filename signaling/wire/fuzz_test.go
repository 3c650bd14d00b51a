package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
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
		req, err := DecodeRequest(data)
		if err != nil {
			if !known[err.Code] || err.Message == "" {
				t.Fatalf("error %+v", err)
			}
			if len(req.ID) > 0 && !isScalarID(req.ID) {
				t.Fatalf("would echo non-scalar id %s", req.ID)
			}
			return
		}
		if out := AppendRelayFrame(nil, req, "f"); !json.Valid(out) {
			t.Fatalf("invalid relay frame %s", out)
		}
	})
}

// FuzzRelayFastPath: whenever the fast path accepts a frame, encoding/json
// must read the same request from it, and both must relay the same frame.
func FuzzRelayFastPath(f *testing.F) {
	for _, seed := range []string{
		`{"type":"offer","to":"x","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n","id":3}`,
		`{"type":"candidate","to":"x","candidate":{"candidate":"c","sdpMLineIndex":0}}`,
		`{"type":"candidate","to":"x","candidate":null}`,
		`{"type":"message","data":{"a":[1,2.5e3,-0,true,null,"\u00e9"]}}`,
		`{"type":"message","data":1,"TYPE":"join"}`,
		` {"type" : "answer" , "to":"y","sdp":"s","room":"r"} `,
		`{"type":"offer","to":"x","sdp":"a","type":"answer"}`,
		`{"type":"message","data":"m","cseq":42}`,
		`{"type":"message","data":1,"token":5}`,
		`{"type":"message","data":1,"client":"x","relay":"x"}`,
		`{"type":"message","data":"m","cseq":9007199254740991}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		fast := &Request{}
		if !DecodeRelayFast(frame, fast) {
			return
		}
		slow, err := DecodeRequest(frame)
		if err != nil {
			if fast.Validate() == nil {
				t.Fatalf("fast path accepts %q, encoding/json refuses: %v", frame, err)
			}
			return
		}
		if fast.Type != slow.Type || fast.To != slow.To || fast.CSeq != slow.CSeq || !bytes.Equal(fast.ID, slow.ID) && !(fast.ID == nil && slow.ID == nil) {
			t.Fatalf("%q: fast %+v, slow %+v", frame, fast, slow)
		}
		if (fast.Validate() == nil) != (slow.Validate() == nil) {
			t.Fatalf("%q: validation differs", frame)
		}
		if !sameJSON(AppendRelayFrame(nil, fast, "f"), AppendRelayFrame(nil, slow, "f")) {
			t.Fatalf("%q: relayed frames differ:\n%s\n%s", frame, AppendRelayFrame(nil, fast, "f"), AppendRelayFrame(nil, slow, "f"))
		}
	})
}

// sameJSON compares two documents as values, numbers by their text (so
// 1e700, which overflows float64, still compares).
func sameJSON(a, b []byte) bool {
	decode := func(doc []byte) (v any, ok bool) {
		d := json.NewDecoder(bytes.NewReader(doc))
		d.UseNumber()
		return v, d.Decode(&v) == nil
	}
	va, okA := decode(a)
	vb, okB := decode(b)
	return okA && okB && reflect.DeepEqual(va, vb)
}
