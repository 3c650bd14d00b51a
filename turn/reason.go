package turn

import (
	"net"

	"github.com/pion/stun/v2"
)

// pion/turn/v4 builds its error answers with an empty reason phrase, so a
// client's log says "error 486:" and nothing more. RFC 8489 (14.8) wants a
// phrase; the gate writes the standard one into every error answer pion
// sends without MESSAGE-INTEGRITY, and for a 486 says which quota refused
// (Server.quota notes it for the client, the gate takes it on the way out).

// quotaRefused names what refused an allocation in its 486.
const (
	quotaRefusedUser     = "Allocation Quota Reached: user-quota"
	quotaRefusedSource   = "Allocation Quota Reached: source-quota"
	quotaRefusedTotal    = "Allocation Quota Reached: total-quota"
	quotaRefusedDraining = "Allocation Quota Reached: server draining"
)

// noteRefusal remembers why the Allocate from src is about to get a 486;
// pion sends the answer on the same goroutine right after.
func (s *Server) noteRefusal(src net.Addr, reason string) {
	s.refusals.Store(src.String(), reason)
}

// reasonFor returns the phrase for an error answer with code to the
// client at to, or nil when stun knows none.
func (g *gate) reasonFor(code stun.ErrorCode, to net.Addr) []byte {
	if code == stun.CodeAllocQuotaReached {
		if r, ok := g.s.refusals.LoadAndDelete(to.String()); ok {
			return []byte(r.(string))
		}
	}
	tmp := &stun.Message{}
	if stun.ErrorCode(code).AddTo(tmp) != nil {
		return nil
	}
	var ec stun.ErrorCodeAttribute
	if ec.GetFrom(tmp) != nil {
		return nil
	}
	return append([]byte(nil), ec.Reason...)
}

// errorCodeWithReason returns the ERROR-CODE attribute value a with a
// reason phrase, or a itself when it has one or none is known.
func (g *gate) errorCodeWithReason(m *stun.Message, a stun.RawAttribute, to net.Addr) []byte {
	var ec stun.ErrorCodeAttribute
	if ec.GetFrom(m) != nil || len(ec.Reason) > 0 {
		return a.Value
	}
	reason := g.reasonFor(ec.Code, to)
	if reason == nil {
		return a.Value
	}
	tmp := &stun.Message{}
	if (stun.ErrorCodeAttribute{Code: ec.Code, Reason: reason}).AddTo(tmp) != nil {
		return a.Value
	}
	v, _ := tmp.Get(stun.AttrErrorCode)
	return v
}
