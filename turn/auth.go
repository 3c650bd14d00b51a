package turn

import (
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/turn/v4"
)

// Auth refusal reasons, the label values of switchboard_turn_auth_total.
const (
	authOK          = "ok"
	authBadPassword = "bad_password"
	authExpired     = "expired"
	authTooFar      = "too_far_future"
	authBadUsername = "bad_username"
	authUnknownUser = "unknown_user"
	authWrongRealm  = "wrong_realm"
	authStaleNonce  = "stale_nonce"
)

// StaticUser is a long-term credential from the configuration (coturn's
// user=name:password or user=name:0x<key>).
type StaticUser struct {
	Name     string
	Password string
	// Key is the precomputed MD5(name:realm:password) key; it wins over
	// Password when set.
	Key []byte
}

// credentialKeys returns the long-term keys a request by username may be
// signed with (one per REST secret, so rotated secrets keep verifying), or
// the reason it cannot be.
func (s *Server) credentialKeys(username, realm string, now time.Time) ([][]byte, string) {
	if realm != s.cfg.Realm {
		return nil, authWrongRealm
	}
	if key, ok := s.userKeys[username]; ok {
		return [][]byte{key}, ""
	}
	if len(s.cfg.Secrets) == 0 {
		return nil, authUnknownUser
	}
	expiry, _, err := parseUsername(username)
	switch {
	case err != nil:
		return nil, authBadUsername
	case now.After(expiry):
		return nil, authExpired
	case expiry.Sub(now) > s.cfg.MaxCredentialValidity:
		return nil, authTooFar
	}
	keys := make([][]byte, len(s.cfg.Secrets))
	for i, secret := range s.cfg.Secrets {
		keys[i] = turn.GenerateAuthKey(username, realm, restPassword(secret, username))
	}
	return keys, ""
}

// quotaUser is who an allocation counts against: for REST credentials the
// part after the colon, so one user cannot dodge user-quota by minting new
// timestamps.
func quotaUser(username string) string {
	if _, user, ok := strings.Cut(username, ":"); ok && user != "" {
		if _, _, err := parseUsername(username); err == nil {
			return user
		}
	}
	return username
}

// verifiedKeys hands the key the gate verified a request with to pion's
// AuthHandler, which pion calls right after, on the same goroutine. With
// several REST secrets the handler could not tell which one the client
// used, and pion signs its answer with the key the handler returns.
type verifiedKeys struct {
	mu   sync.Mutex
	keys map[string][]byte
}

// maxVerifiedKeys bounds the table: an entry pion never asks for (a request
// pion drops before authenticating) is cleared with the rest when full.
const maxVerifiedKeys = 4096

func verifiedKey(username, realm string, src net.Addr) string {
	return username + "\x00" + realm + "\x00" + src.String()
}

func (v *verifiedKeys) put(id string, key []byte) {
	v.mu.Lock()
	if v.keys == nil || len(v.keys) >= maxVerifiedKeys {
		v.keys = make(map[string][]byte)
	}
	v.keys[id] = key
	v.mu.Unlock()
}

func (v *verifiedKeys) take(id string) ([]byte, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	key, ok := v.keys[id]
	delete(v.keys, id)
	return key, ok
}

// authenticate is pion's AuthHandler. Every request that reaches pion with
// MESSAGE-INTEGRITY has passed the gate, which verified it; this returns
// the key the gate found.
func (s *Server) authenticate(username, realm string, src net.Addr) ([]byte, bool) {
	return s.verified.take(verifiedKey(username, realm, src))
}
