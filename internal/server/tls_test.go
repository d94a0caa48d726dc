package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/testserver"
)

// TestTLSNegotiatesOnlyHTTP1 checks that a client offering h2 and
// http/1.1 in ALPN, as libcurl in the KVS producer SDK does, gets
// http/1.1: HTTP/2 cannot carry the Connection and Transfer-Encoding
// headers the producer signs.
func TestTLSNegotiatesOnlyHTTP1(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(srv.CAPath()); err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CA: %v", err)
	}
	conn, err := tls.Dial("tcp", srv.TLSAddr().String(), &tls.Config{
		RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().NegotiatedProtocol; got != "http/1.1" {
		t.Fatalf("ALPN negotiated %q, want http/1.1", got)
	}
}

// TestTLSProducerSignedHeaders sends a request signed over Connection and
// Transfer-Encoding, as the KVS producer signs PutMedia, over TLS from a
// client that would use HTTP/2 if offered.
func TestTLSProducerSignedHeaders(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	c := srv.HTTPClient()
	tr := c.Transport.(*http.Transport)
	tr.ForceAttemptHTTP2 = true
	defer tr.CloseIdleConnections()

	req, err := http.NewRequest(http.MethodPost, srv.HTTPSURL+"/listStreams", io.NopCloser(strings.NewReader("{}")))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	req.TransferEncoding = []string{"chunked"}
	req.Header.Set("Connection", "keep-alive")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "AWS-SDK-KVS-CPP-CLIENT/3.4.1")
	testserver.SignAsProducer(req, time.Now())
	if h := req.Header.Get("Authorization"); !strings.Contains(h, "connection;") || !strings.Contains(h, "transfer-encoding;") {
		t.Fatalf("test signer left out the headers under test: %s", h)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("over %s: %s %s %s", resp.Proto, resp.Status, resp.Header.Get("x-amzn-ErrorType"), body)
	}
	if resp.ProtoMajor != 1 {
		t.Errorf("served over %s", resp.Proto)
	}
}
