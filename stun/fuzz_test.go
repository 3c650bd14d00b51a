package stun

import (
	"net"
	"testing"

	"github.com/pion/stun/v2"
)

// FuzzBindingResponse: arbitrary packets never panic, and every packet the
// fast path accepts gets a response that decodes, matches the transaction
// and reports the sender's address.
func FuzzBindingResponse(f *testing.F) {
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	f.Add(req.Raw)
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.NewUsername("u")).Raw)
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	from := &net.UDPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 4242}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if !looksLikeBinding(pkt) {
			return
		}
		var in, out stun.Message
		if err := bindingResponse(&in, &out, pkt, from); err != nil {
			return
		}
		var got stun.Message
		got.Raw = append([]byte(nil), out.Raw...)
		if err := got.Decode(); err != nil {
			t.Fatalf("response does not decode: %v", err)
		}
		var xor stun.XORMappedAddress
		if err := xor.GetFrom(&got); err != nil || !xor.IP.Equal(from.IP) || xor.Port != from.Port {
			t.Fatalf("mapped address %v (%v)", xor, err)
		}
		if got.TransactionID != in.TransactionID || got.Type != stun.BindingSuccess {
			t.Fatal("response does not answer the request")
		}
	})
}

// FuzzDecodeAnswer: whatever comes back to a NAT discovery socket never
// panics, and an accepted answer carries the request's transaction and a
// mapped address.
func FuzzDecodeAnswer(f *testing.F) {
	var id [stun.TransactionIDSize]byte
	copy(id[:], "natdiscovery")
	ok := stun.MustBuild(stun.NewTransactionIDSetter(id), stun.BindingSuccess,
		&stun.XORMappedAddress{IP: net.IPv4(198, 18, 4, 2), Port: 40000},
		addrAs{stun.MappedAddress{IP: net.IPv4(198, 18, 0, 2), Port: 3479}, stun.AttrOtherAddress}, stun.Fingerprint)
	f.Add(ok.Raw)
	f.Add(stun.MustBuild(stun.NewTransactionIDSetter(id), stun.BindingSuccess).Raw)
	f.Add([]byte{1, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		a, accepted := decodeAnswer(pkt, id)
		if !accepted {
			return
		}
		if a.mapped == nil || a.mapped.IP == nil {
			t.Fatalf("accepted an answer without a mapped address: %+v", a)
		}
		var m stun.Message
		m.Raw = append([]byte(nil), pkt...)
		if m.Decode() != nil || m.TransactionID != id {
			t.Fatal("accepted a packet that is not the answer")
		}
	})
}
