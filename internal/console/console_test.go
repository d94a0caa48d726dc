package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/console"
	"github.com/openkvs/openkvs/internal/testserver"
)

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res, string(b)
}

// TestServedByServe checks the pages on both listeners of a whole server,
// without any signature, with the content types browsers need for module
// scripts.
func TestServedByServe(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Configure: func(c *config.Config) { c.Region = "eu-central-1" }})
	for _, base := range []string{srv.HTTPURL, srv.HTTPSURL} {
		for _, tc := range []struct {
			path, contentType, contains string
		}{
			{"/webrtc", "text/html; charset=utf-8", `<input id="region" name="region" value="eu-central-1" required>`},
			{"/console/webrtc.js", "text/javascript; charset=utf-8", "RTCPeerConnection"},
			{"/console/kvs.js", "text/javascript; charset=utf-8", "/v1/get-ice-server-config"},
			{"/console/sigv4.js", "text/javascript; charset=utf-8", "AWS4-HMAC-SHA256"},
			{"/console/style.css", "text/css; charset=utf-8", "video"},
		} {
			res, body := get(t, srv.HTTPClient(), base+tc.path)
			if res.StatusCode != http.StatusOK {
				t.Errorf("GET %s%s: status %d, body %.200s", base, tc.path, res.StatusCode, body)
				continue
			}
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("GET %s%s: Content-Type %q, want %q", base, tc.path, got, tc.contentType)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("GET %s%s: X-Content-Type-Options %q", base, tc.path, got)
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("GET %s%s: body lacks %q", base, tc.path, tc.contains)
			}
		}
	}
}

// TestNotFound checks that only the console's files are served: no
// directory listing and no file outside the embedded tree.
func TestNotFound(t *testing.T) {
	c, err := console.New(console.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, op := range c.Operations() {
		if op.Auth != awsapi.AuthNone {
			t.Errorf("%s: Auth %v, want AuthNone", op.Name, op.Auth)
		}
		mux.Handle(op.Pattern, op.Handler)
	}
	ts := httptest.NewServer(mux)
	defer ts.Close()
	for _, path := range []string{"/console/", "/console/nope.js", "/console/../console.go", "/console/%2e%2e/console.go"} {
		res, body := get(t, ts.Client(), ts.URL+path)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404; body %.100s", path, res.StatusCode, body)
		}
	}
	res, body := get(t, ts.Client(), ts.URL+"/webrtc")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `value="us-east-1"`) {
		t.Errorf("GET /webrtc: status %d, default region missing", res.StatusCode)
	}
}
