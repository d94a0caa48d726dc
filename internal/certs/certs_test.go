package certs

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestEnsureCreatesThenReuses(t *testing.T) {
	dir := t.TempDir()
	r1, err := Ensure(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !r1.Created {
		t.Fatal("first call created nothing")
	}
	r2, err := Ensure(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Created {
		t.Fatal("second call regenerated material")
	}
	if string(r1.Certificate.Certificate[0]) != string(r2.Certificate.Certificate[0]) {
		t.Fatal("certificate changed between calls")
	}
	if fi, err := os.Stat(filepath.Join(dir, caKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v %v", fi.Mode(), err)
	}
}

func TestNewHostReissuesServerCertOnly(t *testing.T) {
	dir := t.TempDir()
	if _, err := Ensure(Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	ca1, _ := os.ReadFile(filepath.Join(dir, CAFile))
	r, err := Ensure(Config{Dir: dir, Hosts: []string{"kvs.example.test", "192.0.2.7"}})
	if err != nil {
		t.Fatal(err)
	}
	ca2, _ := os.ReadFile(filepath.Join(dir, CAFile))
	if string(ca1) != string(ca2) {
		t.Fatal("CA changed")
	}
	leaf, _ := x509.ParseCertificate(r.Certificate.Certificate[0])
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "kvs.example.test", "192.0.2.7"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
}

func TestRenewsNearExpiry(t *testing.T) {
	dir := t.TempDir()
	if _, err := Ensure(Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(certValidity - renewBefore/2) }
	r, err := Ensure(Config{Dir: dir, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Created {
		t.Fatal("certificate near expiry was not renewed")
	}
}

// TestServesTLSTrustedByCA checks a real HTTPS handshake that trusts only
// the generated CA, over loopback.
func TestServesTLSTrustedByCA(t *testing.T) {
	r, err := Ensure(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{r.Certificate}}
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(r.CAPath)
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file is not PEM")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
}
