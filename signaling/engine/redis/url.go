package redis

import (
	"fmt"
	"net/url"
	"strings"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// ParseURL makes a client from a URL: redis:// or rediss:// for one
// server (or a Sentinel set when the query names master_name), and
// redis+cluster:// or rediss+cluster:// for a Cluster, more nodes given
// as addr= query parameters.
//
// Its clients bound every call by its context's deadline (go-redis's
// ContextTimeoutEnabled): the engine's Config.Timeout, not go-redis's
// own 3 s read timeout, decides when a call has failed.
//
// Its errors never quote the URL, which may hold a password.
func ParseURL(raw string) (goredis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: the redis URL does not parse", errBadConfig)
	}
	off := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Query().Has("master_name") {
			opt, err := goredis.ParseFailoverURL(raw)
			if err != nil {
				return nil, badRedisURL(err, u)
			}
			opt.ContextTimeoutEnabled = true
			return goredis.NewFailoverClient(opt), nil
		}
		opt, err := goredis.ParseURL(raw)
		if err != nil {
			return nil, badRedisURL(err, u)
		}
		opt.MaintNotificationsConfig = off
		opt.ContextTimeoutEnabled = true
		return goredis.NewClient(opt), nil
	case "redis+cluster", "rediss+cluster":
		u.Scheme = strings.TrimSuffix(u.Scheme, "+cluster")
		opt, err := goredis.ParseClusterURL(u.String())
		if err != nil {
			return nil, badRedisURL(err, u)
		}
		opt.MaintNotificationsConfig = off
		opt.ContextTimeoutEnabled = true
		return goredis.NewClusterClient(opt), nil
	}
	return nil, fmt.Errorf("%w: redis URL scheme %q is not redis, rediss, redis+cluster or rediss+cluster", errBadConfig, u.Scheme)
}

// ParseURLs makes a client per shard from a comma-separated list of
// URLs as ParseURL takes them (a comma inside one is written %2C). On an
// error it closes the clients it made.
func ParseURLs(list string) ([]goredis.UniversalClient, error) {
	var clients []goredis.UniversalClient
	for i, raw := range strings.Split(list, ",") {
		c, err := ParseURL(strings.TrimSpace(raw))
		if err != nil {
			for _, c := range clients {
				_ = c.Close()
			}
			return nil, fmt.Errorf("shard %d of %d: %w", i+1, strings.Count(list, ",")+1, err)
		}
		clients = append(clients, c)
	}
	return clients, nil
}

// badRedisURL reports a URL go-redis refused, with its error stripped of
// the URL's password.
func badRedisURL(err error, u *url.URL) error {
	msg := err.Error()
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return fmt.Errorf("%w: %s", errBadConfig, msg)
}
