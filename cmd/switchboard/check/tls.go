package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"time"
)

// certWarning is how close to expiry a certificate fails the check:
// ACME renews 30 days ahead, so a certificate this close is not being
// renewed.
const certWarning = 14 * 24 * time.Hour

func checkTLS(ctx context.Context, cfg Config, u *url.URL) Result {
	const name = "TLS certificate"
	host := u.Hostname()
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(host, "443")
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: cfg.Timeout}, Config: cfg.tlsFor(host)}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var invalid x509.CertificateInvalidError
		var unknown x509.UnknownAuthorityError
		var hostErr x509.HostnameError
		switch {
		case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
			return fail(name, "Renew the certificate (-tls-cert/-tls-key, then SIGHUP) or fix the renewal job: browsers refuse the page and every wss:// connection.", "%v", err)
		case errors.As(err, &unknown):
			return fail(name, "Serve the full chain (leaf then intermediates) in -tls-cert, from a CA browsers trust.", "%v", err)
		case errors.As(err, &hostErr):
			return fail(name, "The certificate does not name this host: get one for "+host+".", "%v", err)
		}
		return fail(name, "Check that the port is open and speaks TLS.", "%v", err)
	}
	defer conn.Close()
	leaf := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
	left := time.Until(leaf.NotAfter)
	if left < certWarning {
		return fail(name, "The certificate expires soon and is evidently not being renewed: renew it and reload with SIGHUP.",
			"valid until %s (%s left)", leaf.NotAfter.UTC().Format(time.RFC3339), roundS(left))
	}
	return pass(name, "valid for %s, until %s, issued by %s", host, leaf.NotAfter.UTC().Format("2006-01-02"), leaf.Issuer.CommonName)
}
