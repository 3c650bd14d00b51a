package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API scheme fixes HMAC-SHA1
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Credentials mints short-lived TURN credentials in the TURN REST API scheme
// coturn implements (use-auth-secret): the username is
// "<unix expiry>:<user>" and the password base64(HMAC-SHA1(secret, username)).
// Anyone holding the shared secret can verify them without a database.
func Credentials(secret []byte, user string, ttl time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	return username, restPassword(secret, username)
}

func restPassword(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// parseUsername splits a REST API username into its expiry and user parts.
// coturn accepts a bare timestamp too, so do we.
func parseUsername(username string) (expiry time.Time, user string, err error) {
	stamp, user, _ := strings.Cut(username, ":")
	secs, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil || secs <= 0 || stamp[0] == '+' {
		return time.Time{}, "", fmt.Errorf("%w: %q", errBadUsername, truncate(username, 64))
	}
	return time.Unix(secs, 0), user, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
