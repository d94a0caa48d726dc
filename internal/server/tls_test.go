package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

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

// TestDataEndpointHostWithoutPort asks for a data endpoint the way the KVS
// C producer does, with "Host: 127.0.0.1" sent to the TLS listener's port:
// the endpoint handed out must carry that port.
func TestDataEndpointHostWithoutPort(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	if _, err := srv.KVS().CreateStream(context.Background(), &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam")}); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, srv.HTTPSURL+"/getDataEndpoint", strings.NewReader(`{"StreamName":"cam","APIName":"PUT_MEDIA"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "127.0.0.1"
	req.Header.Set("Content-Type", "application/json")
	testserver.SignAsProducer(req, time.Now())
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ DataEndpoint string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %v", resp.Status, err)
	}
	if out.DataEndpoint != srv.HTTPSURL {
		t.Fatalf("DataEndpoint = %q, want %q", out.DataEndpoint, srv.HTTPSURL)
	}
}
