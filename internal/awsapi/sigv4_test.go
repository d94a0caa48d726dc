package awsapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The published SigV4 test suite signs every request with these.
var (
	suiteTime  = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	suiteCreds = map[string]string{"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
)

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

func newVerifier(t testing.TB, cfg VerifierConfig) *Verifier {
	t.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func suiteVerifier(t testing.TB) *Verifier {
	return newVerifier(t, VerifierConfig{Credentials: suiteCreds, Service: "service", Now: fixedNow(suiteTime)})
}

// readSuiteRequest turns a test-suite request file into the *http.Request a
// Go server would hand its handler: the request target is percent-encoded
// where the file writes raw spaces or UTF-8, and the bytes go through
// http.ReadRequest.
func readSuiteRequest(t testing.TB, name string) *http.Request {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(data), "\n\n")
	lines := strings.Split(head, "\n")
	method, target, ok := strings.Cut(lines[0], " ")
	if !ok {
		t.Fatalf("%s: bad request line %q", name, lines[0])
	}
	target = strings.TrimSuffix(target, " HTTP/1.1")
	var wire bytes.Buffer
	wire.WriteString(method + " " + escapeTarget(target) + " HTTP/1.1\r\n")
	for _, l := range lines[1:] {
		wire.WriteString(l + "\r\n")
	}
	wire.WriteString("\r\n" + body)
	r, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// escapeTarget percent-encodes the bytes a request target may not hold.
func escapeTarget(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func TestVerifySuiteVectors(t *testing.T) {
	files, err := filepath.Glob("testdata/sigv4suite/*.txt")
	if err != nil || len(files) < 30 {
		t.Fatalf("want the suite's request files, got %d (%v)", len(files), err)
	}
	v := suiteVerifier(t)
	wrongKey := newVerifier(t, VerifierConfig{Credentials: map[string]string{"AKIDEXAMPLE": "not-the-secret"}, Service: "service", Now: fixedNow(suiteTime)})
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) {
			r := readSuiteRequest(t, f)
			id, err := v.Verify(r)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.AccessKeyID != "AKIDEXAMPLE" || id.Region != "us-east-1" {
				t.Errorf("identity = %+v", id)
			}
			if tok := r.Header.Get("X-Amz-Security-Token"); tok != "" && id.SessionToken != tok {
				t.Errorf("session token = %q, want %q", id.SessionToken, tok)
			}
			if r.Body != nil {
				if body, _ := io.ReadAll(r.Body); strings.Contains(f, "form-urlencoded") && string(body) != "Param1=value1" {
					t.Errorf("body after Verify = %q", body)
				}
			}

			if _, err := wrongKey.Verify(readSuiteRequest(t, f)); !IsCode(err, InvalidSignature) {
				t.Errorf("wrong secret: err = %v, want InvalidSignatureException", err)
			}
			r = readSuiteRequest(t, f)
			r.Host = "example.amazonaws.com.evil"
			if _, err := v.Verify(r); !IsCode(err, InvalidSignature) {
				t.Errorf("other host: err = %v, want InvalidSignatureException", err)
			}
		})
	}
}

func TestCanonicalRequestSuite(t *testing.T) {
	tests := []struct {
		file   string
		signed []string
		want   string
	}{
		{"get-vanilla-query-order-key-case", []string{"host", "x-amz-date"}, "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EmptyPayloadHash},
		{"get-header-value-trim", []string{"host", "my-header1", "my-header2", "x-amz-date"}, "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n" + EmptyPayloadHash},
		{"get-header-key-duplicate", []string{"host", "my-header1", "x-amz-date"}, "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" + EmptyPayloadHash},
		{"get-slashes-normalized", []string{"host", "x-amz-date"}, "GET\n/example/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EmptyPayloadHash},
		{"get-vanilla-utf8-query", []string{"host", "x-amz-date"}, "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EmptyPayloadHash},
		{"post-x-www-form-urlencoded", []string{"content-length", "content-type", "host", "x-amz-content-sha256", "x-amz-date"}, "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nx-amz-date:20150830T123600Z\n\ncontent-length;content-type;host;x-amz-content-sha256;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := readSuiteRequest(t, "testdata/sigv4suite/"+tt.file+".txt")
			payload := EmptyPayloadHash
			if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
				payload = h
			}
			if got := CanonicalRequest(r, tt.signed, payload); got != tt.want {
				t.Errorf("canonical request:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDeriveSigningKey(t *testing.T) {
	// The example from the SigV4 documentation's "derive a signing key" step.
	got := DeriveSigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam")
	const want = "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
	if hexString(got) != want {
		t.Errorf("key = %s, want %s", hexString(got), want)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestNewVerifierConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  VerifierConfig
		want error
	}{
		{"nil credentials", VerifierConfig{}, ErrNoCredentials},
		{"empty secret", VerifierConfig{Credentials: map[string]string{"AKID": ""}}, ErrEmptyCredential},
		{"empty key id", VerifierConfig{Credentials: map[string]string{"": "secret"}}, ErrEmptyCredential},
		{"negative skew", VerifierConfig{Credentials: map[string]string{}, MaxSkew: -time.Second}, ErrNegativeDuration},
		{"negative body", VerifierConfig{Credentials: map[string]string{}, MaxHashedBody: -1}, ErrNegativeDuration},
		{"empty credentials", VerifierConfig{Credentials: map[string]string{}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && (v.service != "kinesisvideo" || v.maxSkew != 5*time.Minute || v.maxExpires != 7*24*time.Hour || v.maxHashedBody != MaxJSONBody || v.now == nil) {
				t.Errorf("defaults not applied: %+v", v)
			}
		})
	}
}

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		in                 string
		cred, signed, sig  string
		wantErr, errSubstr string
	}{
		{in: "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc", cred: "A/20150830/r/s/aws4_request", signed: "host;x-amz-date", sig: "abc"},
		{in: "AWS4-HMAC-SHA256 Credential=A/d/r/s/aws4_request,SignedHeaders=host,Signature=abc", cred: "A/d/r/s/aws4_request", signed: "host", sig: "abc"},
		{in: "AWS4-HMAC-SHA256  Signature=abc , Credential=c, SignedHeaders=host, Extra=1", cred: "c", signed: "host", sig: "abc"},
		{in: "", wantErr: "IncompleteSignatureException", errSubstr: "Unsupported Authorization scheme"},
		{in: "Bearer token", wantErr: "IncompleteSignatureException", errSubstr: "Unsupported Authorization scheme \"Bearer\""},
		{in: "AWS AKID:sig", wantErr: "IncompleteSignatureException", errSubstr: "Unsupported"},
		{in: "AWS4-HMAC-SHA256 Credential=c", wantErr: "IncompleteSignatureException", errSubstr: "requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{in: "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc", wantErr: "IncompleteSignatureException", errSubstr: "requires 'Credential' parameter"},
		{in: "AWS4-HMAC-SHA256 Credential=c, SignedHeaders=host, Signature", wantErr: "IncompleteSignatureException", errSubstr: "not a key=value pair"},
		{in: "AWS4-HMAC-SHA256 Credential=c, Credential=d, SignedHeaders=host, Signature=a", wantErr: "IncompleteSignatureException", errSubstr: "more than one \"Credential\""},
	}
	for _, tt := range tests {
		cred, signed, sig, err := ParseAuthorization(tt.in)
		if tt.wantErr != "" {
			var e *Error
			if !errors.As(err, &e) || string(e.Code) != tt.wantErr || !strings.Contains(e.Message, tt.errSubstr) {
				t.Errorf("ParseAuthorization(%q) err = %v, want %s containing %q", tt.in, err, tt.wantErr, tt.errSubstr)
			}
			continue
		}
		if err != nil || cred != tt.cred || signed != tt.signed || sig != tt.sig {
			t.Errorf("ParseAuthorization(%q) = %q, %q, %q, %v", tt.in, cred, signed, sig, err)
		}
	}
}

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "/",
		"/":                            "/",
		"//":                           "/",
		"/./":                          "/",
		"/example/..":                  "/",
		"/example1/example2/../..":     "/",
		"//example//":                  "/example/",
		"/./example":                   "/example",
		"/a/b/../c/./d/":               "/a/c/d/",
		"/../../a":                     "/a",
		"/describeStream":              "/describeStream",
		"/v1/get-ice-server-config":    "/v1/get-ice-server-config",
		"/getHLSStreamingSessionURL//": "/getHLSStreamingSessionURL/",
	} {
		if got := normalizePath(in); got != want {
			t.Errorf("normalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestURIEncode(t *testing.T) {
	tests := []struct {
		in          string
		encodeSlash bool
		want        string
	}{
		{"/-._~azAZ09", false, "/-._~azAZ09"},
		{"/a b/ሴ", false, "/a%20b/%E1%88%B4"},
		{"/a%20b", false, "/a%2520b"},
		{"arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo/1234567890123", true, "arn%3Aaws%3Akinesisvideo%3Aus-west-2%3A123456789012%3Achannel%2Fdemo%2F1234567890123"},
		{"a+b=c&d*", true, "a%2Bb%3Dc%26d%2A"},
	}
	for _, tt := range tests {
		if got := uriEncode(tt.in, tt.encodeSlash); got != tt.want {
			t.Errorf("uriEncode(%q, %v) = %q, want %q", tt.in, tt.encodeSlash, got, tt.want)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		raw       string
		presigned bool
		plusSpace bool
		want      string
	}{
		{"", false, true, ""},
		{"b=2&a=1&a=0", false, true, "a=0&a=1&b=2"},
		{"a=x+y&c=%7e&d", false, true, "a=x%20y&c=~&d="},
		{"a=x+y", false, false, "a=x%2By"},
		{"a=%zz", false, true, "a=%25zz"},
		{"X-Amz-Signature=abc&X-Amz-Date=1", true, true, "X-Amz-Date=1"},
		{"X-Amz-Signature=abc&X-Amz-Date=1", false, true, "X-Amz-Date=1&X-Amz-Signature=abc"},
		{"&&a=1&", false, true, "a=1"},
	}
	for _, tt := range tests {
		if got := parseQuery(tt.raw).canonical(tt.presigned, tt.plusSpace, false); got != tt.want {
			t.Errorf("canonical(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestMiddleware(t *testing.T) {
	v := suiteVerifier(t)
	var got *Identity
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = IdentityFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, readSuiteRequest(t, "testdata/sigv4suite/get-vanilla.txt"))
	if rec.Code != http.StatusNoContent || got == nil || got.AccessKeyID != "AKIDEXAMPLE" {
		t.Fatalf("signed request: status %d, identity %+v", rec.Code, got)
	}

	got = nil
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/describeStream", nil))
	if rec.Code != http.StatusForbidden || got != nil {
		t.Fatalf("unsigned request: status %d, identity %+v", rec.Code, got)
	}
	if et := rec.Header().Get("x-amzn-ErrorType"); et != string(MissingAuthenticationToken) {
		t.Errorf("x-amzn-ErrorType = %q", et)
	}
	if !strings.Contains(rec.Body.String(), `"Missing Authentication Token"`) {
		t.Errorf("body = %s", rec.Body.String())
	}

	r := httptest.NewRequest(http.MethodPost, "/describeStream", nil)
	r.Header.Set("Authorization", " ")
	if _, err := v.Verify(r); !IsCode(err, MissingAuthenticationToken) {
		t.Errorf("empty Authorization header: err = %v", err)
	}
}

// signedRequest returns a POST signed by aws-sdk-go-v2 over body with
// payload hash hash; sendHash also sends it as x-amz-content-sha256, and a
// negative length makes the body a chunked stream.
func signedRequest(t testing.TB, at time.Time, body, hash string, sendHash bool, length int64) *http.Request {
	t.Helper()
	req := httptest.NewRequest("POST", "http://127.0.0.1:8080/putMedia", strings.NewReader(body))
	req.ContentLength = length
	if length < 0 {
		req.TransferEncoding = []string{"chunked"}
	}
	if sendHash {
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "kinesisvideo", "us-west-2", at); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestVerifyPayloadHash(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newVerifier(t, VerifierConfig{Credentials: testCreds, MaxHashedBody: 64, Now: fixedNow(now)})
	body := "0123456789"
	big := strings.Repeat("x", 100)
	tests := []struct {
		name     string
		body     string
		hash     string
		sendHash bool
		length   int64 // -1: chunked
		verify   Code  // "" = accepted
		readErr  bool  // reading the body afterwards fails
	}{
		{name: "hashed by server", body: body, hash: sha256Hex([]byte(body)), length: 10},
		{name: "hashed by server, signed as empty", body: body, hash: EmptyPayloadHash, length: 10},
		{name: "hashed by server, wrong hash", body: body, hash: sha256Hex([]byte("other")), length: 10, verify: InvalidSignature},
		{name: "stream signed as empty (KVS producer)", body: big, hash: EmptyPayloadHash, length: -1},
		{name: "stream signed unsigned", body: big, hash: UnsignedPayload, length: -1},
		{name: "stream signed over its content without header", body: big, hash: sha256Hex([]byte(big)), length: -1, verify: InvalidSignature},
		{name: "too large to hash, signed as empty", body: big, hash: EmptyPayloadHash, length: 100},
		{name: "header UNSIGNED-PAYLOAD", body: body, hash: UnsignedPayload, sendHash: true, length: 10},
		{name: "header hex matches", body: body, hash: sha256Hex([]byte(body)), sendHash: true, length: 10},
		{name: "header hex lies", body: body, hash: sha256Hex([]byte("other")), sendHash: true, length: 10, verify: InvalidSignature},
		{name: "header hex matches stream", body: big, hash: sha256Hex([]byte(big)), sendHash: true, length: -1},
		{name: "header hex lies about stream", body: big, hash: sha256Hex([]byte("other")), sendHash: true, length: -1, readErr: true},
		{name: "header hex lies about large body", body: big, hash: sha256Hex([]byte("other")), sendHash: true, length: 100, readErr: true},
		{name: "header malformed", body: body, hash: "SHA256", sendHash: true, length: 10, verify: IncompleteSignature},
		{name: "header streaming chunk signatures", body: body, hash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", sendHash: true, length: 10, verify: IncompleteSignature},
		{name: "empty body", body: "", hash: EmptyPayloadHash, length: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := signedRequest(t, now, tt.body, tt.hash, tt.sendHash, tt.length)
			_, err := v.Verify(r)
			if tt.verify != "" {
				if !IsCode(err, tt.verify) {
					t.Fatalf("Verify err = %v, want %s", err, tt.verify)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			got, err := io.ReadAll(r.Body)
			if tt.readErr {
				if !IsCode(err, InvalidSignature) {
					t.Fatalf("reading body: err = %v, want InvalidSignatureException", err)
				}
				return
			}
			if err != nil || string(got) != tt.body {
				t.Fatalf("body after Verify = %q, %v", got, err)
			}
		})
	}
}

func TestVerifyDateHeader(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newVerifier(t, VerifierConfig{Credentials: testCreds, Now: fixedNow(now.Add(time.Minute))})
	headers := [][2]string{{"Host", "127.0.0.1:8080"}, {"Date", now.Format(http.TimeFormat)}}
	r := httptest.NewRequest("GET", "http://127.0.0.1:8080/", nil)
	r.Header.Set("Date", now.Format(http.TimeFormat))
	r.Header.Set("Authorization", producerSign("GET", "/", "", headers, testAKID, testSecret, "us-west-2", "kinesisvideo", now))
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	r.Header.Set("Date", "yesterday")
	if _, err := v.Verify(r); !IsCode(err, IncompleteSignature) {
		t.Fatalf("bad Date: err = %v", err)
	}
}

func TestVerifySkewMessages(t *testing.T) {
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		now  time.Time
		want string
	}{
		{at.Add(10 * time.Minute), "Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z (20240101T001000Z - 5 min.)"},
		{at.Add(-10 * time.Minute), "Signature not yet current: 20240101T000000Z is still later than 20231231T235500Z (20231231T235000Z + 5 min.)"},
		{at.Add(5 * time.Minute), ""},
		{at.Add(-5 * time.Minute), ""},
	} {
		v := newVerifier(t, VerifierConfig{Credentials: testCreds, Now: fixedNow(tt.now)})
		_, err := v.Verify(signedRequest(t, at, "", EmptyPayloadHash, false, 0))
		if tt.want == "" {
			if err != nil {
				t.Errorf("now %v: %v", tt.now, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != InvalidSignature || e.Status() != http.StatusForbidden || e.Message != tt.want {
			t.Errorf("now %v: err = %v\nwant 403 InvalidSignatureException: %s", tt.now, err, tt.want)
		}
	}
}

func TestVerifyPresignedTokenAddedAfterSigning(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newVerifier(t, VerifierConfig{Credentials: testCreds, Now: fixedNow(now)})
	u := presign(t, "http://127.0.0.1:8443", now, "299", "") + "&X-Amz-Security-Token=late%2Btoken"
	id, err := v.Verify(httptest.NewRequest("GET", u, nil))
	if err != nil || id.SessionToken != "late+token" {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
}

func TestVerifyRegions(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newVerifier(t, VerifierConfig{Credentials: testCreds, Regions: []string{"eu-west-1", "us-west-2"}, Now: fixedNow(now)})
	if _, err := v.Verify(signedRequest(t, now, "", EmptyPayloadHash, false, 0)); err != nil {
		t.Fatalf("us-west-2: %v", err)
	}
	v = newVerifier(t, VerifierConfig{Credentials: testCreds, Regions: []string{"eu-west-1"}, Now: fixedNow(now)})
	_, err := v.Verify(signedRequest(t, now, "", EmptyPayloadHash, false, 0))
	var e *Error
	if !errors.As(err, &e) || e.Code != InvalidSignature || e.Message != "Credential should be scoped to a valid region, not 'us-west-2'." {
		t.Fatalf("err = %v", err)
	}
}

func TestVerifyNoCredentials(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newVerifier(t, VerifierConfig{Credentials: map[string]string{}, Now: fixedNow(now)})
	_, err := v.Verify(signedRequest(t, now, "", EmptyPayloadHash, false, 0))
	if !IsCode(err, UnrecognizedClient) || AsError(err).Message != "The security token included in the request is invalid." {
		t.Fatalf("err = %v", err)
	}
}

func TestSigningKeyCache(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newVerifier(t, VerifierConfig{Credentials: testCreds, Now: fixedNow(now)})
	done := make(chan error)
	for range 8 {
		go func() {
			var err error
			for range 20 {
				if _, e := v.Verify(signedRequest(t, now, "{}", sha256Hex([]byte("{}")), false, 2)); e != nil {
					err = e
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if len(v.keys) != 1 {
		t.Errorf("cache holds %d keys, want 1", len(v.keys))
	}
	for i := range keyCacheSize + 10 {
		v.signingKey(testAKID, testSecret, "20240101", "region-"+strconv.Itoa(i))
	}
	if n := len(v.keys); n > keyCacheSize {
		t.Errorf("cache grew to %d keys, bound is %d", n, keyCacheSize)
	}
	if got, want := v.signingKey(testAKID, testSecret, "20240101", "x"), DeriveSigningKey(testSecret, "20240101", "x", "kinesisvideo"); !bytes.Equal(got, want) {
		t.Error("cached key differs from the derived one")
	}
}

func TestVerifyPresignedUnsignedPayload(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newVerifier(t, VerifierConfig{Credentials: testCreds, Now: fixedNow(now)})
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	for _, how := range []string{"not sent", "header", "query"} {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:8443/?X-Amz-Expires=60&X-Amz-ChannelARN=arn", nil)
		if how == "query" {
			req.URL.RawQuery += "&X-Amz-Content-Sha256=" + UnsignedPayload
		}
		if how == "header" {
			req.Header.Set("X-Amz-Content-Sha256", UnsignedPayload) // aws-sdk-go-v2 signs it as a header
		}
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, UnsignedPayload, "kinesisvideo", "us-west-2", now)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", u, nil)
		if how == "header" {
			r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
		}
		if _, err := v.Verify(r); err != nil {
			t.Errorf("X-Amz-Content-Sha256 %s: %v", how, err)
		}
	}
}
