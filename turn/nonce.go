package turn

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// nonceMinter issues the NONCEs clients see. pion/turn/v4's own nonces are
// a per-minute timestamp under a MAC, the same for every client, so a
// nonce fetched from one address works from any other. Ours bind the
// client's transport (protocol and address) and carry their own expiry;
// the gate swaps in a pion nonce before a request reaches pion.
type nonceMinter struct {
	key      []byte
	lifetime time.Duration
}

const (
	nonceStampLen = 4
	nonceMACLen   = 12
	nonceLen      = nonceStampLen + nonceMACLen
)

func newNonceMinter(lifetime time.Duration) *nonceMinter {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read does not fail
	return &nonceMinter{key: key, lifetime: lifetime}
}

func (n *nonceMinter) mac(stamp []byte, transport string) []byte {
	h := hmac.New(sha256.New, n.key)
	h.Write(stamp)
	h.Write([]byte(transport))
	return h.Sum(nil)[:nonceMACLen]
}

// mint returns a nonce valid for transport ("udp 1.2.3.4:5") until now+lifetime.
func (n *nonceMinter) mint(transport string, now time.Time) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint32(b[:nonceStampLen], uint32(now.Add(n.lifetime).Unix())) //nolint:gosec // valid until 2106
	copy(b[nonceStampLen:], n.mac(b[:nonceStampLen], transport))
	return hex.EncodeToString(b[:])
}

// valid reports whether nonce was minted for transport and has not expired.
func (n *nonceMinter) valid(nonce, transport string, now time.Time) bool {
	if len(nonce) != 2*nonceLen {
		return false
	}
	var b [nonceLen]byte
	if _, err := hex.Decode(b[:], []byte(nonce)); err != nil {
		return false
	}
	expiry := time.Unix(int64(binary.BigEndian.Uint32(b[:nonceStampLen])), 0)
	if now.After(expiry) || expiry.Sub(now) > n.lifetime {
		return false
	}
	return hmac.Equal(b[nonceStampLen:], n.mac(b[:nonceStampLen], transport))
}
