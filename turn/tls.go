package turn

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// CertReloader serves the certificate from a cert and key file and swaps
// it on Reload; connections already up keep theirs, so allocations over
// TLS (and, in the signaling server, sessions over WSS) survive a renewal.
type CertReloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// NewCertReloader loads the pair, failing when it cannot.
func NewCertReloader(certFile, keyFile string) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile}
	return r, r.Reload()
}

// Reload reads the files again; on error the old certificate stays.
func (r *CertReloader) Reload() error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load %s / %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&cert)
	return nil
}

// TLSConfig serves the current certificate, TLS 1.2 and up.
func (r *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cert.Load(), nil
		},
	}
}
