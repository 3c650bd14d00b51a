package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/switchboard-rtc/switchboard/cmd/switchboard/internal/natlab"
)

// The NAT lab's HTTPS certificate (for 198.18.0.1), made once per test
// process and trusted as a root by it and its children through
// SSL_CERT_FILE, as a certificate from a public CA is by clients.
var labCertFile, labKeyFile string

// trustLabCertificate writes the lab's self-signed certificate and points
// SSL_CERT_FILE at a bundle holding it (and the bundle SSL_CERT_FILE named
// before, if any; the system's certificate directories still count). It
// returns the clean-up.
func trustLabCertificate() (func(), error) {
	dir, err := os.MkdirTemp("", "natlab-cert-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		cleanup()
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "switchboard NAT lab"},
		IPAddresses: []net.IP{natlab.Pub}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		cleanup()
		return nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		cleanup()
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	labCertFile, labKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	bundle := certPEM
	if prev := os.Getenv("SSL_CERT_FILE"); prev != "" {
		if b, err := os.ReadFile(prev); err == nil {
			bundle = append(append(b, '\n'), certPEM...)
		}
	}
	for file, data := range map[string][]byte{
		labCertFile: certPEM, labKeyFile: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		filepath.Join(dir, "roots.pem"): bundle,
	} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			cleanup()
			return nil, err
		}
	}
	os.Setenv("SSL_CERT_FILE", filepath.Join(dir, "roots.pem"))
	return cleanup, nil
}
