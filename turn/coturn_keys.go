package turn

// What switchboard does with coturn's keys beyond the ones it supports
// (optionTable). A migrated config must not silently lose a setting that
// matters, nor need a round of edits for one that does not:
//   - ignoredKeys are accepted with one warning each that says what
//     switchboard does instead: their coturn meaning is already our
//     behaviour, or concerns a part switchboard does not have and would
//     only make it less exposed;
//   - unsupportedKeys are refused with the reason: they would change
//     security or ask for behaviour switchboard does not have.
//
// The keys are those of coturn 4.6's and today's turnserver (mainrelay.c's
// long_options) and two of older releases that guides still copy
// (dh2066, no-loopback-peers). docs/turn.md has the same lists as a table;
// TestCoturnKeysDocumented keeps them together.

// ignoredKey is a coturn key accepted with a warning.
type ignoredKey struct {
	instead string // what switchboard does instead, for the warning
	// conflict, when set, names a contradiction with other options (an
	// error) or returns "".
	conflict func(*Options) string
}

const (
	noCLI       = "there is no telnet CLI, so nothing listens: use /metrics and the log"
	noWebAdmin  = "there is no web admin, so nothing listens: use /metrics and the log"
	noOldTLS    = "TLS 1.2 is the minimum version: SSL, TLS 1.0 and 1.1 are never offered"
	noDHE       = "Go's TLS uses ECDHE key exchange only: no finite-field DH parameters are used"
	noUserDB    = "there is no user database: users come from user= and REST secrets"
	syslogOff   = "logs go to log-file when set, else to standard error (the journal under systemd)"
	batchedUDP  = "batched UDP I/O (recvmmsg/sendmmsg) is used on Linux without being asked"
	noSoftware  = "SOFTWARE is sent on STUN Binding answers only and says \"switchboard\", no version"
	rfc5780Only = "RFC 5780 NAT discovery is answered exactly when alt-listening-ip is set"
)

var ignoredKeys = map[string]ignoredKey{
	"fingerprint": {instead: "STUN Binding answers always carry FINGERPRINT; TURN answers do not, and clients (browsers included) do not need it"},
	"no-cli":      {instead: noCLI}, "cli-ip": {instead: noCLI}, "cli-port": {instead: noCLI},
	"cli-password": {instead: noCLI}, "cli-max-output-sessions": {instead: noCLI},
	"web-admin-ip": {instead: noWebAdmin}, "web-admin-port": {instead: noWebAdmin},
	"web-admin-listen-on-workers": {instead: noWebAdmin},
	"no-tlsv1":                    {instead: noOldTLS}, "no-tlsv1_1": {instead: noOldTLS},
	"no-sslv2": {instead: noOldTLS}, "no-sslv3": {instead: noOldTLS},
	"cipher-list": {instead: "TLS offers Go's defaults, all with ECDHE: TLS 1.3, and for TLS 1.2 AES-GCM, " +
		"ChaCha20-Poly1305 and AES-CBC-SHA; the list cannot be changed"},
	"ec-curve-name": {instead: "Go's TLS chooses the curve (X25519MLKEM768, X25519, P-256, P-384)"},
	"dh566":         {instead: noDHE}, "dh1066": {instead: noDHE}, "dh2066": {instead: noDHE}, "dh-file": {instead: noDHE},
	"no-dtls":                        {instead: "DTLS is never offered"},
	"no-stun-backward-compatibility": {instead: "classic STUN (RFC 3489) is never answered"},
	"simple-log": {instead: "log-file is written as named, with no PID or date added and no rollover; " +
		"rotate it with logrotate's copytruncate"},
	"syslog": {instead: syslogOff}, "syslog-facility": {instead: syslogOff},
	"no-stdout-log":     {instead: syslogOff + "; never to both"},
	"new-log-timestamp": {instead: "log lines always carry RFC 3339 timestamps"},
	"server-name":       {instead: "it names the server for OAuth, which switchboard does not offer; realm is the realm"},
	"no-rfc5780": {instead: rfc5780Only, conflict: func(o *Options) string {
		if o.AltListeningIP != "" {
			return "no-rfc5780 contradicts alt-listening-ip, which turns RFC 5780 on: drop one of them"
		}
		return ""
	}},
	"rfc5780": {instead: rfc5780Only, conflict: func(o *Options) string {
		if o.AltListeningIP == "" {
			return "rfc5780 needs alt-listening-ip (a second IPv4 address) and one listening-ip"
		}
		return ""
	}},
	"response-origin-only-with-rfc5780": {instead: "RESPONSE-ORIGIN is sent only on RFC 5780 answers (alt-listening-ip)"},
	"no-loopback-peers": {instead: "loopback peers are refused unless allow-loopback-peers is set", conflict: func(o *Options) string {
		if o.AllowLoopbackPeers || o.AllowPrivatePeers {
			return "no-loopback-peers contradicts allow-loopback-peers / allow-private-peers: drop one of them"
		}
		return ""
	}},
	"no-tcp-relay":            {instead: "relay endpoints are always UDP: RFC 6062 TCP relaying is not offered"},
	"rfc5766-channel-numbers": {instead: "channel numbers 0x4000-0x7FFF (RFC 5766's range) are always accepted"},
	"include-reason-string":   {instead: "error answers carry the standard reason phrase (a 486 says which quota), nothing internal"},
	"unauthorized-ratelimit":  {instead: "401/438 answers are always rate-limited per source: auth-rate, auth-burst"},
	"drop-invalid-packets":    {instead: "invalid packets are always dropped early"},
	"software-attribute":      {instead: noSoftware}, "no-software-attribute": {instead: noSoftware}, "prod": {instead: noSoftware},
	"no-auth-pings": {instead: noUserDB}, "no-dynamic-ip-list": {instead: noUserDB}, "no-dynamic-realms": {instead: noUserDB},
	"udp-recvmmsg": {instead: batchedUDP}, "udp-gso": {instead: batchedUDP},
	"udp-recvmmsg-log": {instead: batchedUDP}, "udp-sendmmsg-log": {instead: batchedUDP},
	"ne": {instead: "there is one network engine"},
}

// unsupportedKeys are coturn keys refused, with the reason.
var unsupportedKeys = map[string]string{
	"channel-lifetime":                  "pion/turn/v4 fixes channel lifetime at 10 minutes",
	"permission-lifetime":               "pion/turn/v4 fixes permission lifetime at 5 minutes",
	"max-allocate-lifetime":             "pion/turn/v4 fixes the maximum allocation lifetime at 1 hour",
	"max-allocate-timeout":              "pion/turn/v4 fixes allocation timeouts",
	"dtls":                              "DTLS transport is not implemented",
	"alt-tls-listening-port":            "an alternate TLS listener is not implemented",
	"tcp-proxy-port":                    "PROXY protocol listeners are not implemented",
	"listening-device":                  "binding to a device is not implemented: use listening-ip",
	"relay-device":                      "binding to a device is not implemented: use relay-ip",
	"mobility":                          "RFC 8016 mobility is not implemented",
	"userdb":                            "only static users (user=) and REST secrets are supported",
	"db":                                "only static users (user=) and REST secrets are supported",
	"redis-userdb":                      "only static users (user=) and REST secrets are supported",
	"psql-userdb":                       "only static users (user=) and REST secrets are supported",
	"sql-userdb":                        "only static users (user=) and REST secrets are supported",
	"mysql-userdb":                      "only static users (user=) and REST secrets are supported",
	"mongo-userdb":                      "only static users (user=) and REST secrets are supported",
	"secret-key-file":                   "encrypted passwords are not supported: user= takes a password or 0xKEY",
	"redis-statsdb":                     "statistics are exported through Prometheus only",
	"oauth":                             "OAuth third-party authorization is not implemented",
	"no-auth":                           "TURN always requires authentication",
	"secure-stun":                       "STUN Binding is unauthenticated",
	"cli":                               "there is no telnet CLI",
	"web-admin":                         "there is no web admin",
	"server-relay":                      "server relay endpoints are not implemented",
	"alternate-server":                  "300 Try Alternate redirection is not implemented",
	"tls-alternate-server":              "300 Try Alternate redirection is not implemented",
	"tcp-alternate-server":              "300 Try Alternate redirection is not implemented",
	"udp-alternate-server":              "300 Try Alternate redirection is not implemented",
	"aux-server":                        "auxiliary servers are not implemented",
	"udp-self-balance":                  "auxiliary servers are not implemented; udp-sockets (SO_REUSEPORT) spreads the load",
	"relay-threads":                     "use udp-sockets (SO_REUSEPORT) instead",
	"cpus":                              "use udp-sockets (SO_REUSEPORT) and GOMAXPROCS instead",
	"sock-buf-size":                     "use socket-buffer (bytes, default 4194304)",
	"log-min-level":                     "the level is info, or debug with verbose",
	"new-log-timestamp-format":          "log lines always carry RFC 3339 timestamps",
	"log-binding":                       "Binding requests are counted, not logged",
	"drop-invalid-packets-log":          "invalid packets are counted, not logged",
	"respond-http-unsupported":          "an HTTP request on a TURN port is dropped, not answered",
	"proc-user":                         "drop privileges with systemd User= or the container runtime",
	"proc-group":                        "drop privileges with systemd Group= or the container runtime",
	"daemon":                            "switchboard runs in the foreground: run it under systemd or a container runtime",
	"CA-file":                           "client certificates are not checked",
	"tlsv1":                             "TLS 1.2 is the minimum version; TLS 1.0 clients cannot connect",
	"tlsv1_1":                           "TLS 1.2 is the minimum version; TLS 1.1 clients cannot connect",
	"no-tlsv1_2":                        "TLS 1.2 is the minimum version; it cannot be raised to TLS 1.3",
	"raw-public-keys":                   "TLS uses certificates",
	"pkey-pwd":                          "the private key must not be encrypted",
	"rest-api-separator":                "the REST username separator is always ':'",
	"secret-ts-exp-time":                "REST credentials carry their own expiry; max-credential-validity caps it",
	"check-origin-consistency":          "ORIGIN is not checked",
	"prometheus-address":                "use metrics=ADDRESS:PORT",
	"prometheus-path":                   "metrics are served on /metrics",
	"prometheus-tls":                    "the metrics listener is plain HTTP: keep it private",
	"prometheus-cert":                   "the metrics listener is plain HTTP: keep it private",
	"prometheus-key":                    "the metrics listener is plain HTTP: keep it private",
	"prometheus-username-labels":        "metrics carry no per-user labels",
	"keep-address-family":               "relay addresses are IPv4",
	"allocation-default-address-family": "relay addresses are IPv4",
	"stun-backward-compatibility":       "classic STUN (RFC 3489) is not implemented",
	"rfc3489-compatibility":             "classic STUN (RFC 3489) is not implemented",
	"acme-redirect":                     "there is no HTTP listener to redirect from",
	"no-udp-relay":                      "relay endpoints are UDP only: no-udp-relay would leave none",
	"unauthorized-ratelimit-rps":        "use auth-rate (default 10 per second) and auth-burst",
	"stateless-nonce":                   "nonces are minted by each process and bound to the client's address",
	"stateless-nonce-secret":            "nonces are minted by each process and bound to the client's address",
	"drain-min-allocations":             "SIGUSR1 drains until the last allocation ends",
	"multiplex-peer":                    "peer multiplexing is not implemented",
	"multiplex-peer-port":               "peer multiplexing is not implemented",
	"multiplex-peer-max-peers":          "peer multiplexing is not implemented",
	"version":                           "not a setting: run switchboard -version",
}
