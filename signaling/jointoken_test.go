package signaling

import (
	"crypto/rand"
	"crypto/rsa"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/switchboard-rtc/switchboard/signaling/wire"
)

var testJoinSecret = []byte("0123456789abcdef0123456789abcdef")

func mintJoin(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJoinToken(t *testing.T) {
	_, url := startServer(t, Config{JoinSecret: testJoinSecret})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	inAnHour := time.Now().Add(time.Hour).Unix()
	hs := func(c jwt.MapClaims) string { return mintJoin(t, jwt.SigningMethodHS256, testJoinSecret, c) }
	cases := []struct {
		name, room, token, code string
	}{
		{"valid", "standup", hs(jwt.MapClaims{"room": "standup", "exp": inAnHour}), ""},
		{"prefix", "team-7-daily", hs(jwt.MapClaims{"room": "team-7-*", "exp": inAnHour}), ""},
		{"within skew", "standup", hs(jwt.MapClaims{"room": "standup", "exp": time.Now().Add(-10 * time.Second).Unix()}), ""},
		{"missing", "standup", "", wire.CodeUnauthorized},
		{"malformed", "standup", "not.a.jwt", wire.CodeUnauthorized},
		{"expired", "standup", hs(jwt.MapClaims{"room": "standup", "exp": time.Now().Add(-time.Minute).Unix()}), wire.CodeUnauthorized},
		{"no exp", "standup", hs(jwt.MapClaims{"room": "standup"}), wire.CodeUnauthorized},
		{"exp as a string", "standup", hs(jwt.MapClaims{"room": "standup", "exp": strconv.FormatInt(inAnHour, 10)}), wire.CodeUnauthorized},
		{"exp in 2286", "standup", hs(jwt.MapClaims{"room": "standup", "exp": int64(9999999999)}), wire.CodeUnauthorized},
		{"wrong key", "standup", mintJoin(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-32"), jwt.MapClaims{"room": "standup", "exp": inAnHour}), wire.CodeUnauthorized},
		{"HS512", "standup", mintJoin(t, jwt.SigningMethodHS512, testJoinSecret, jwt.MapClaims{"room": "standup", "exp": inAnHour}), wire.CodeUnauthorized},
		{"alg none", "standup", mintJoin(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"room": "standup", "exp": inAnHour}), wire.CodeUnauthorized},
		{"RS256", "standup", mintJoin(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"room": "standup", "exp": inAnHour}), wire.CodeUnauthorized},
		{"other room", "standup", hs(jwt.MapClaims{"room": "retro", "exp": inAnHour}), wire.CodeForbidden},
		{"prefix elsewhere", "standup", hs(jwt.MapClaims{"room": "team-*", "exp": inAnHour}), wire.CodeForbidden},
		{"empty room claim", "standup", hs(jwt.MapClaims{"room": "", "exp": inAnHour}), wire.CodeForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, url, nil)
			req := frame{"type": "join", "room": tc.room, "id": 1}
			if tc.token != "" {
				req["token"] = tc.token
			}
			c.send(req)
			f := c.read()
			if tc.code == "" {
				if f.str("type") != "joined" {
					t.Fatalf("got %v, want joined", f)
				}
				return
			}
			if f.str("type") != "error" || f.str("code") != tc.code || f["re"] != float64(1) {
				t.Fatalf("got %v, want error %s", f, tc.code)
			}
		})
	}
}

func TestJoinTokenNameAndMaxPeers(t *testing.T) {
	_, url := startServer(t, Config{JoinSecret: testJoinSecret})
	exp := time.Now().Add(time.Hour).Unix()
	join := func(c *client, name string, claims jwt.MapClaims) frame {
		c.send(frame{"type": "join", "room": "r", "name": name, "token": mintJoin(t, jwt.SigningMethodHS256, testJoinSecret, claims)})
		return c.read()
	}
	a, b, c := dial(t, url, nil), dial(t, url, nil), dial(t, url, nil)
	join(a, "Mallory", jwt.MapClaims{"room": "r", "exp": exp, "name": "Ada", "maxPeers": 2})
	join(b, "Bob", jwt.MapClaims{"room": "r", "exp": exp, "maxPeers": 2})
	if f := a.expect("peer-joined"); f["peer"].(map[string]any)["name"] != "Bob" {
		t.Fatalf("got %v", f)
	}
	if f := join(c, "Carol", jwt.MapClaims{"room": "r", "exp": exp, "maxPeers": 2}); f.str("code") != wire.CodeRoomFull {
		t.Fatalf("third peer with maxPeers 2: %v", f)
	}
	// The cap is the room's: a token without the claim does not lift it.
	if f := join(c, "Carol", jwt.MapClaims{"room": "r", "exp": exp}); f.str("code") != wire.CodeRoomFull {
		t.Fatalf("third peer without maxPeers in a room capped at 2: %v", f)
	}
	// The name the backend signed wins over the one the client chose.
	d := dial(t, url, nil)
	b.hangUp()
	a.expect("peer-left")
	if f := join(d, "Dave", jwt.MapClaims{"room": "r", "exp": exp, "maxPeers": 2}); f.str("type") != "joined" ||
		f["peers"].([]any)[0].(map[string]any)["name"] != "Ada" {
		t.Fatalf("got %v", f)
	}
}

func TestImpersonatingNamesRefused(t *testing.T) {
	_, url := startServer(t, Config{})
	for _, name := range []string{"You", " you ", "Ada (you)", "ME", "Ada (You)"} {
		c := dial(t, url, nil)
		c.send(frame{"type": "join", "room": "r", "name": name})
		if f := c.expect("error"); f.str("code") != wire.CodeBadName {
			t.Errorf("name %q: %v", name, f)
		}
	}
}
