package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

// TestHomePage checks the start page at /: it links the two players, says
// how to trust the server's certificate (the HTTPS URL to accept, the CA
// file and its download), and GET / still reaches signaling for WebSocket
// clients.
func TestHomePage(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	c := srv.HTTPClient()
	res, body := get(t, c, srv.HTTPURL+"/")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`href="/streams"`, `href="/webrtc"`,
		`href="` + srv.HTTPSURL + `/"`, // the listener to accept
		srv.CAPath(), `href="/ca.pem"`, "Authorities", "Import",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("start page lacks %q", want)
		}
	}
	if !filepath.IsAbs(srv.CAPath()) {
		t.Errorf("CA path %q is not absolute", srv.CAPath())
	}
	pem, err := os.ReadFile(srv.CAPath())
	if err != nil {
		t.Fatal(err)
	}
	if res, body := get(t, c, srv.HTTPURL+"/ca.pem"); res.StatusCode != http.StatusOK || body != string(pem) {
		t.Errorf("GET /ca.pem: %d, %d bytes; want the CA file", res.StatusCode, len(body))
	}

	// A WebSocket upgrade or a presigned query goes to signaling, which
	// wants a signature.
	for _, tc := range []struct{ path, upgrade string }{{"/", "websocket"}, {"/?X-Amz-ChannelARN=x", ""}} {
		req, _ := http.NewRequest(http.MethodGet, srv.HTTPURL+tc.path, nil)
		if tc.upgrade != "" {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", tc.upgrade)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden || res.Header.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" {
			t.Errorf("GET %s (upgrade %q): %d %s; want signaling's 403", tc.path, tc.upgrade, res.StatusCode, res.Header.Get("x-amzn-ErrorType"))
		}
	}
}

// TestWebRTCPageExplainsTLSFailure checks that the channel player has the
// hint it shows when the wss:// connect fails.
func TestWebRTCPageExplainsTLSFailure(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	_, page := get(t, srv.HTTPClient(), srv.HTTPURL+"/webrtc")
	_, script := get(t, srv.HTTPClient(), srv.HTTPURL+"/console/webrtc.js")
	if !strings.Contains(page, `id="tls-hint" hidden`) || !strings.Contains(page, `id="tls-link"`) || !strings.Contains(page, "certificate") {
		t.Error("/webrtc lacks the TLS hint")
	}
	if !strings.Contains(script, "showTLSHint(") || !strings.Contains(script, "does not trust") {
		t.Error("webrtc.js does not show the TLS hint")
	}
}
