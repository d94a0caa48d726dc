// Package certs creates and keeps the local certificate authority and the
// server certificate that openkvs serves HTTPS and WSS with when the user
// brings no certificate of their own.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names inside the TLS directory.
const (
	CAFile     = "ca.pem"
	caKeyFile  = "ca-key.pem"
	CertFile   = "server.pem"
	keyFile    = "server-key.pem"
	caValidity = 10 * 365 * 24 * time.Hour
	// Server certificates are kept under 398 days, the longest lifetime
	// browsers accept.
	certValidity = 397 * 24 * time.Hour
	renewBefore  = 30 * 24 * time.Hour
)

// DefaultHosts are always in the generated server certificate.
var DefaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// Config says where to keep the material and what the certificate covers.
type Config struct {
	// Dir holds ca.pem, ca-key.pem, server.pem and server-key.pem. Required.
	Dir string
	// Hosts are DNS names or IPs added to DefaultHosts.
	Hosts []string
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Result is the loaded or generated material.
type Result struct {
	// Certificate is the server certificate chain and key.
	Certificate tls.Certificate
	// CAPath is the PEM file clients should trust (AWS_CA_BUNDLE,
	// AWS_KVS_CACERT_PATH).
	CAPath string
	// Created reports whether anything was generated on this call.
	Created bool
}

// Ensure loads the CA and server certificate from cfg.Dir, creating the CA
// if it is missing and (re)issuing the server certificate when it is missing,
// near expiry, or does not cover every requested host.
func Ensure(cfg Config) (*Result, error) {
	if cfg.Dir == "" {
		return nil, errors.New("certs: no directory")
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	hosts := slices.Clone(DefaultHosts)
	for _, h := range cfg.Hosts {
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	res := &Result{CAPath: filepath.Join(cfg.Dir, CAFile)}

	caCert, caKey, err := loadPair(filepath.Join(cfg.Dir, CAFile), filepath.Join(cfg.Dir, caKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		caCert, caKey, err = newCA(cfg.Dir, now())
		res.Created = true
	}
	if err != nil {
		return nil, fmt.Errorf("certs: CA: %w", err)
	}

	cert, _, err := loadPair(filepath.Join(cfg.Dir, CertFile), filepath.Join(cfg.Dir, keyFile))
	if err != nil || !covers(cert, hosts) || now().Add(renewBefore).After(cert.NotAfter) || cert.CheckSignatureFrom(caCert) != nil {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("certs: server certificate: %w", err)
		}
		if err := newServerCert(cfg.Dir, hosts, caCert, caKey, now()); err != nil {
			return nil, fmt.Errorf("certs: server certificate: %w", err)
		}
		res.Created = true
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(cfg.Dir, CertFile), filepath.Join(cfg.Dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	res.Certificate = pair
	return res, nil
}

func covers(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func loadPair(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cblock, _ := pem.Decode(cb)
	kblock, _ := pem.Decode(kb)
	if cblock == nil || kblock == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, err := x509.ParseECPrivateKey(kblock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return cert, key, nil
}

func newCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"openkvs"}, CommonName: "openkvs local CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(filepath.Join(dir, CAFile), filepath.Join(dir, caKeyFile), der, key); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func newServerCert(dir string, hosts []string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"openkvs"}, CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return writePair(filepath.Join(dir, CertFile), filepath.Join(dir, keyFile), der, key)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// writePair writes the certificate and key atomically (temp file, fsync,
// rename) so a crash never leaves half a key behind.
func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// WriteFileAtomic writes data to path through a synced temporary file and a
// rename, so readers see the old or the new content, never a mix.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
