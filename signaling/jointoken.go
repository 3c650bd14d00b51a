package signaling

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

// joinClaims is what an application's backend signs to let a user into a
// room (docs/protocol.md, "Room access").
type joinClaims struct {
	// Room is a room name, or a prefix ending in "*" that covers every
	// room starting with it.
	Room string `json:"room"`
	// Name, when set, replaces the display name the client asked for.
	Name string `json:"name,omitempty"`
	// MaxPeers, when set, caps the room below the server's limit.
	MaxPeers int `json:"maxPeers,omitempty"`
	jwt.RegisteredClaims
}

// maxJoinTokenLife bounds how far ahead a join token's exp may be.
const maxJoinTokenLife = 366 * 24 * time.Hour

// numericExp reports whether the (verified) token's exp claim is a JSON
// number rather than a string.
func numericExp(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var raw struct {
		Exp json.RawMessage `json:"exp"`
	}
	if json.Unmarshal(payload, &raw) != nil || len(raw.Exp) == 0 {
		return false
	}
	return raw.Exp[0] >= '0' && raw.Exp[0] <= '9'
}

// joinTokenLeeway absorbs clock skew between the backend and this server.
const joinTokenLeeway = 30 * time.Second

var joinTokenParser = jwt.NewParser(
	jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
	jwt.WithExpirationRequired(),
	jwt.WithLeeway(joinTokenLeeway),
)

// checkJoinToken verifies token against secret and that it admits room.
// It returns the claims, or unauthorized (missing, malformed, bad
// signature, expired) or forbidden (another room).
func checkJoinToken(secret []byte, token, room string) (*joinClaims, *wire.Error) {
	if token == "" {
		return nil, wire.NewError(wire.CodeUnauthorized, "this server needs a join token: join with \"token\" from your application")
	}
	var claims joinClaims
	_, err := joinTokenParser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, wire.NewError(wire.CodeUnauthorized, "join token expired")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, wire.NewError(wire.CodeUnauthorized, "join token signature does not verify")
	case err != nil:
		return nil, wire.NewError(wire.CodeUnauthorized, "join token is not a valid HS256 JWT with exp")
	}
	// exp must be a number (golang-jwt takes a numeric string too) and
	// near: a token for centuries is a leaked key in waiting.
	if !numericExp(token) {
		return nil, wire.NewError(wire.CodeUnauthorized, "join token exp must be a number of seconds")
	}
	if claims.ExpiresAt.After(time.Now().Add(maxJoinTokenLife)) {
		return nil, wire.NewError(wire.CodeUnauthorized, "join token expires more than %d days from now", int(maxJoinTokenLife.Hours()/24))
	}
	if !roomCovered(claims.Room, room) {
		return nil, wire.NewError(wire.CodeForbidden, "join token does not cover room %q", room)
	}
	name, ok := wire.NormalizeName(claims.Name)
	if !ok {
		return nil, wire.NewError(wire.CodeUnauthorized, "join token carries an invalid name")
	}
	claims.Name = name
	if claims.MaxPeers < 0 {
		return nil, wire.NewError(wire.CodeUnauthorized, "join token maxPeers is negative")
	}
	return &claims, nil
}

func roomCovered(pattern, room string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(room, prefix)
	}
	return pattern != "" && pattern == room
}

// MintJoinToken signs a join token for room, valid for ttl: what an
// application's backend issues, and what the server's own echo peer
// presents when rooms are closed.
func MintJoinToken(secret []byte, room string, ttl time.Duration) (string, error) {
	claims := joinClaims{Room: room, RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl))}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}
