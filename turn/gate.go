package turn

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v2"
)

// The gate sits between the client sockets and pion/turn. It does at the
// socket layer what pion/turn/v4 does not:
//   - NONCEs bound to the client's transport address, with an expiry;
//   - 401 (not pion's 400) for unknown, expired or wrong credentials,
//     with a fresh NONCE, and the credential check for rotated secrets;
//   - 403 for CreatePermission and ChannelBind towards a denied peer
//     (pion answers 401 and an error without a code);
//   - a per-source budget of 401/438 answers.
//
// ChannelData and indications pass after a two-byte look.

type gateAction int

const (
	gatePass    gateAction = iota // hand the packet to pion unchanged
	gateDrop                      // say nothing
	gateReply                     // send reply to the client, not to pion
	gateRewrite                   // verified: swap the NONCE, re-sign, hand to pion
)

type gateVerdict struct {
	action gateAction
	reply  []byte
	msg    *stun.Message // gateRewrite
	key    []byte        // gateRewrite
}

// pionNonce is the latest NONCE pion issued; pion accepts its nonces for
// an hour, we use one for pionNonceFresh.
type pionNonce struct {
	value string
	seen  time.Time
}

const pionNonceFresh = 30 * time.Minute

// gate holds the server-wide state; the per-socket wrappers in gate_udp.go
// and gate_tcp.go drive it.
type gate struct {
	s       *Server
	nonces  *nonceMinter
	limiter *addrLimiter
	pion    atomic.Pointer[pionNonce]
	// synthTx marks the unauthenticated Refresh the gate feeds pion to
	// obtain a fresh pion nonce; pion's answer to it is swallowed.
	synthTx [stun.TransactionIDSize]byte
}

func newGate(s *Server) *gate {
	g := &gate{s: s, nonces: newNonceMinter(s.cfg.NonceLifetime),
		limiter: newAddrLimiter(s.cfg.AuthRate, s.cfg.AuthBurst)}
	g.synthTx = stun.NewTransactionID()
	return g
}

func transportID(network string, addr net.Addr) string { return network + " " + addr.String() }

const (
	stunHeaderLen = 20
	typeClassMask = 0x0110
	classRequest  = 0x0000
	classError    = 0x0110
)

// inbound vets one packet from a client.
func (g *gate) inbound(pkt []byte, from net.Addr, network string) gateVerdict {
	if len(pkt) < stunHeaderLen || pkt[0]&0xC0 != 0 {
		return gateVerdict{action: gatePass} // ChannelData, or junk pion drops
	}
	typ := binary.BigEndian.Uint16(pkt)
	if typ == stun.BindingRequest.Value() {
		if g.s.cfg.NoSTUN {
			g.s.metrics.droppedSTUNMode.Inc()
			return gateVerdict{action: gateDrop}
		}
		return gateVerdict{action: gatePass}
	}
	if g.s.cfg.STUNOnly {
		g.s.metrics.droppedSTUNMode.Inc()
		return gateVerdict{action: gateDrop}
	}
	if typ&typeClassMask != classRequest {
		return gateVerdict{action: gatePass}
	}
	m := &stun.Message{Raw: append([]byte(nil), pkt...)}
	if err := m.Decode(); err != nil {
		return gateVerdict{action: gatePass}
	}
	now := time.Now()
	if !m.Contains(stun.AttrMessageIntegrity) {
		// pion answers with a 401 challenge: budget it per source.
		if !g.limiter.allow(from, now) {
			g.s.metrics.droppedAuthRate.Inc()
			return gateVerdict{action: gateDrop}
		}
		return gateVerdict{action: gatePass}
	}
	var nonce stun.Nonce
	var username stun.Username
	var realm stun.Realm
	if nonce.GetFrom(m) != nil || username.GetFrom(m) != nil || realm.GetFrom(m) != nil {
		return gateVerdict{action: gatePass} // pion answers 400
	}
	transport := transportID(network, from)
	if !g.nonces.valid(nonce.String(), transport, now) {
		return g.challenge(m, from, transport, stun.CodeStaleNonce, authStaleNonce, now)
	}
	keys, reason := g.s.credentialKeys(username.String(), realm.String(), now)
	var key []byte
	for _, k := range keys {
		if stun.MessageIntegrity(k).Check(m) == nil {
			key = k
			break
		}
	}
	if key == nil {
		if reason == "" {
			reason = authBadPassword
		}
		g.s.log.Debug("turn auth refused", "client", from, "reason", reason)
		return g.challenge(m, from, transport, stun.CodeUnauthorized, reason, now)
	}
	g.s.metrics.auth(authOK)
	if m.Type.Method == stun.MethodCreatePermission || m.Type.Method == stun.MethodChannelBind {
		if denied, ok := g.deniedPeer(m); ok {
			g.s.metrics.deniedPeers.Inc()
			g.s.log.Debug("peer denied", "client", from, "peer", denied)
			return gateVerdict{action: gateReply, reply: buildReply(m, stun.CodeForbidden, stun.MessageIntegrity(key))}
		}
	}
	g.s.verified.put(verifiedKey(username.String(), realm.String(), from), key)
	return gateVerdict{action: gateRewrite, msg: m, key: key}
}

// challenge answers 401 or 438 with a NONCE for this transport, within the
// source's budget.
func (g *gate) challenge(m *stun.Message, from net.Addr, transport string, code stun.ErrorCode, reason string, now time.Time) gateVerdict {
	g.s.metrics.auth(reason)
	if !g.limiter.allow(from, now) {
		g.s.metrics.droppedAuthRate.Inc()
		return gateVerdict{action: gateDrop}
	}
	return gateVerdict{action: gateReply, reply: buildReply(m, code,
		stun.NewNonce(g.nonces.mint(transport, now)), stun.NewRealm(g.s.cfg.Realm))}
}

func buildReply(req *stun.Message, code stun.ErrorCode, attrs ...stun.Setter) []byte {
	setters := append([]stun.Setter{
		stun.NewTransactionIDSetter(req.TransactionID),
		stun.NewType(req.Type.Method, stun.ClassErrorResponse),
		code,
	}, attrs...)
	resp, err := stun.Build(setters...)
	if err != nil {
		return nil
	}
	return resp.Raw
}

// deniedPeer returns the first XOR-PEER-ADDRESS the policy refuses.
func (g *gate) deniedPeer(m *stun.Message) (netip.Addr, bool) {
	for _, a := range m.Attributes {
		if a.Type != stun.AttrXORPeerAddress {
			continue
		}
		peer, ok := decodeXORAddr(a.Value, m.TransactionID)
		if !ok || !g.s.policy.allows(peer) {
			return peer, true
		}
	}
	return netip.Addr{}, false
}

// decodeXORAddr reads an XOR-PEER-ADDRESS value (RFC 5389 15.2).
func decodeXORAddr(v []byte, tx [stun.TransactionIDSize]byte) (netip.Addr, bool) {
	var xor [16]byte
	binary.BigEndian.PutUint32(xor[:4], magicCookie)
	copy(xor[4:], tx[:])
	switch {
	case len(v) == 8 && v[1] == 1:
		var b [4]byte
		for i := range b {
			b[i] = v[4+i] ^ xor[i]
		}
		return netip.AddrFrom4(b), true
	case len(v) == 20 && v[1] == 2:
		var b [16]byte
		for i := range b {
			b[i] = v[4+i] ^ xor[i]
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

const magicCookie = 0x2112A442

// freshPionNonce returns a pion nonce young enough to hand pion.
func (g *gate) freshPionNonce(now time.Time) (string, bool) {
	p := g.pion.Load()
	if p == nil || now.Sub(p.seen) > pionNonceFresh {
		return "", false
	}
	return p.value, true
}

// synthetic is the request that makes pion issue a fresh nonce.
func (g *gate) synthetic() []byte {
	m, _ := stun.Build(stun.NewTransactionIDSetter(g.synthTx), stun.NewType(stun.MethodRefresh, stun.ClassRequest))
	return m.Raw
}

// rewrite re-signs a verified request with pion's nonce in place of ours.
// Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are dropped,
// as RFC 5389 tells receivers to ignore them.
func rewrite(m *stun.Message, key []byte, pionNonce string) ([]byte, error) {
	out := &stun.Message{TransactionID: m.TransactionID}
	out.SetType(m.Type)
	out.WriteHeader()
	fingerprint := false
	for _, a := range m.Attributes {
		if a.Type == stun.AttrMessageIntegrity {
			fingerprint = m.Contains(stun.AttrFingerprint)
			break
		}
		if a.Type != stun.AttrNonce {
			out.Add(a.Type, a.Value)
		}
	}
	out.Add(stun.AttrNonce, []byte(pionNonce))
	if err := stun.MessageIntegrity(key).AddTo(out); err != nil {
		return nil, err
	}
	if fingerprint {
		if err := stun.Fingerprint.AddTo(out); err != nil {
			return nil, err
		}
	}
	return out.Raw, nil
}

// outbound vets one packet pion sends to a client: it learns pion's nonce
// from error responses and replaces it with one bound to the client, and
// fills in the reason phrase pion leaves empty (reason.go). It returns nil
// when the packet must not be sent.
func (g *gate) outbound(pkt []byte, to net.Addr, network string) []byte {
	if len(pkt) < stunHeaderLen || pkt[0]&0xC0 != 0 ||
		binary.BigEndian.Uint16(pkt)&typeClassMask != classError {
		return pkt
	}
	m := &stun.Message{Raw: append([]byte(nil), pkt...)}
	if err := m.Decode(); err != nil {
		return pkt
	}
	var nonce stun.Nonce
	hasNonce := nonce.GetFrom(m) == nil
	if !hasNonce && m.Contains(stun.AttrMessageIntegrity) {
		return pkt // signed: leave it whole
	}
	now := time.Now()
	if hasNonce {
		// pion's nonce changes every minute, so a value seen before keeps its
		// first sighting as its age; one "older" than two minutes is a state
		// only a test or a clock jump makes, and is taken as new.
		if p := g.pion.Load(); p == nil || p.value != nonce.String() || now.Sub(p.seen) > 2*time.Minute {
			g.pion.Store(&pionNonce{value: nonce.String(), seen: now})
		}
		if bytes.Equal(m.TransactionID[:], g.synthTx[:]) {
			return nil
		}
	}
	out := &stun.Message{TransactionID: m.TransactionID}
	out.SetType(m.Type)
	out.WriteHeader()
	for _, a := range m.Attributes {
		switch a.Type {
		case stun.AttrNonce:
			out.Add(stun.AttrNonce, []byte(g.nonces.mint(transportID(network, to), now)))
		case stun.AttrErrorCode:
			out.Add(stun.AttrErrorCode, g.errorCodeWithReason(m, a, to))
		default:
			out.Add(a.Type, a.Value)
		}
	}
	return out.Raw
}
