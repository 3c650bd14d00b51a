package main

import (
	"crypto/tls"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/echo"
)

// startEcho starts the echo peers' service when -echo is set; they dial
// this server's own listener on loopback.
func startEcho(c *config, ls listeners, reg prometheus.Registerer, log *slog.Logger) (*echo.Service, error) {
	if !c.Echo {
		return nil, nil
	}
	addr := ls.http.Addr().(*net.TCPAddr)
	host := addr.IP
	if host.IsUnspecified() {
		host = net.IPv4(127, 0, 0, 1) // a wildcard listener answers there
	}
	scheme, tlsConf := "ws", (*tls.Config)(nil)
	if c.TLSCert != "" {
		// Our own listener on loopback, whose certificate names the public
		// host, not 127.0.0.1: there is nobody in between to verify.
		scheme, tlsConf = "wss", &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback to ourselves
	}
	cfg := echo.Config{
		URL: scheme + "://" + net.JoinHostPort(host.String(), strconv.Itoa(addr.Port)) + "/v1/ws",
		TLS: tlsConf, MaxPeers: c.EchoMax, Lifetime: c.echoLifetime, Registerer: reg, Logger: log.With("component", "echo"),
	}
	if secret := c.joinSecret(); secret != nil {
		cfg.JoinToken = func(room string) (string, error) { return signaling.MintJoinToken(secret, room, time.Minute) }
	}
	return echo.New(cfg)
}
