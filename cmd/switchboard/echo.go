package main

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/echo"
	"github.com/switchboard-rtc/switchboard/turn"
)

// startEcho starts the echo peers' service when -echo is set; they dial
// this server's own listener on loopback. Their ICE agents offer only
// -public-ip and send checks only where the bundled relay may relay.
func startEcho(c *config, ls listeners, relay *turn.Server, reg prometheus.Registerer, log *slog.Logger) (*echo.Service, error) {
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
		PublicIP: c.publicIP,
	}
	switch {
	case relay != nil:
		cfg.PeerAllowed = relay.PeerAllowed
	case c.AllowPrivatePeers:
		cfg.PeerAllowed = func(netip.AddrPort) bool { return true }
	}
	if secret := c.joinSecret(); secret != nil {
		cfg.JoinToken = func(room string) (string, error) { return signaling.MintJoinToken(secret, room, time.Minute) }
	}
	return echo.New(cfg)
}
