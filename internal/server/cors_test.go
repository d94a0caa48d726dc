package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/server"
	"github.com/openkvs/openkvs/internal/testserver"
)

// TestCORS checks that a page on another origin can call the APIs: the
// preflight is answered without a signature, and signed responses (errors
// included) carry the CORS headers a browser needs to read them.
func TestCORS(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	req, _ := http.NewRequest(http.MethodOptions, srv.HTTPURL+"/describeSignalingChannel", nil)
	req.Header.Set("Origin", "https://example.test")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-amz-date")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "authorization") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, h)
	}

	// An unsigned cross-origin POST is still refused, and the browser can
	// read why.
	req, _ = http.NewRequest(http.MethodPost, srv.HTTPURL+"/listStreams", strings.NewReader("{}"))
	req.Header.Set("Origin", "https://example.test")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "x-amzn-ErrorType") {
		t.Fatalf("unsigned POST: %d %v", resp.StatusCode, resp.Header)
	}

	// Requests without Origin (SDKs) get no CORS headers, and keep working.
	if _, err := srv.KVS().ListStreams(context.Background(), &kinesisvideo.ListStreamsInput{MaxResults: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
}

// TestNoCORSOffAPI checks that the server's own endpoints and pages, such
// as /metrics, are kept off other origins: no CORS headers, and their
// preflights refused.
func TestNoCORSOffAPI(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	for _, path := range []string{"/metrics", "/healthz", "/webrtc", "/streams", "/console/style.css"} {
		t.Run(path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.HTTPURL+path, nil)
			req.Header.Set("Origin", "https://evil.example")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("GET: %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}

			req, _ = http.NewRequest(http.MethodOptions, srv.HTTPURL+path, nil)
			req.Header.Set("Origin", "https://evil.example")
			req.Header.Set("Access-Control-Request-Method", "GET")
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 == 2 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("preflight: %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}
		})
	}
}

// TestNewFailsCleanly checks that a configuration error found while the
// server is being built is returned, not a panic, and releases the data dir.
func TestNewFailsCleanly(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.TLSListen = config.Off
	cfg.TURN.Listen = config.Off // TURN on with every TURN listener off
	cfg.Credentials = []string{testserver.AccessKeyID + ":" + testserver.SecretAccessKey}
	for range 2 { // the second attempt finds the catalog unlocked
		s, err := server.New(cfg, server.Options{})
		if err == nil || s != nil {
			t.Fatalf("New = %v, %v; want an error", s, err)
		}
		if !strings.Contains(err.Error(), "TURN listener") {
			t.Fatalf("err = %v", err)
		}
	}
}
