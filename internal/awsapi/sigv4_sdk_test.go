package awsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/smithy-go"
)

const (
	testAKID   = "AKIAOPENKVSTEST00001"
	testSecret = "openkvs/test/secret+key/0123456789abcdefgh"
)

var testCreds = map[string]string{testAKID: testSecret}

// echoServer is a loopback server behind v.Middleware that answers with the
// caller's identity and the body its handler read.
type echoReply struct {
	AccessKeyID  string
	Region       string
	SessionToken string
	Body         string
}

func startEchoServer(t *testing.T, v *Verifier) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		id := IdentityFrom(r.Context())
		WriteJSON(w, echoReply{AccessKeyID: id.AccessKeyID, Region: id.Region, SessionToken: id.SessionToken, Body: string(body)})
	})))
	t.Cleanup(srv.Close)
	return srv
}

// do sends req and decodes either an echoReply or an AWS error.
func do(t *testing.T, c *http.Client, req *http.Request) (*echoReply, *Error, int) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatalf("status %d, body %q", resp.StatusCode, data)
		}
		if got := resp.Header.Get("x-amzn-ErrorType"); got != e.Type {
			t.Errorf("x-amzn-ErrorType %q, body __type %q", got, e.Type)
		}
		return nil, &Error{Code: Code(e.Type), Message: e.Message}, resp.StatusCode
	}
	var rep echoReply
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("bad reply %q: %v", data, err)
	}
	return &rep, nil, resp.StatusCode
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestVerifySDKSignHTTP signs requests with aws-sdk-go-v2's signer, the
// independent client, and sends them to a real loopback server.
func TestVerifySDKSignHTTP(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newVerifier(t, VerifierConfig{Credentials: testCreds, Now: fixedNow(now)})
	srv := startEchoServer(t, v)
	signer := v4.NewSigner()

	tests := []struct {
		name        string
		method      string
		path        string // appended to the server URL
		body        string
		header      map[string]string
		token       string
		payloadHash string // "" = SHA-256 of body
		region      string
		sendHash    bool // send x-amz-content-sha256
	}{
		{name: "DescribeStream", method: "POST", path: "/describeStream", body: `{"StreamName":"cam-1"}`, header: map[string]string{"Content-Type": "application/json"}},
		{name: "empty JSON body", method: "POST", path: "/listStreams", body: ``},
		{name: "session token", method: "POST", path: "/getDataEndpoint", body: `{"StreamName":"cam-1","APIName":"PUT_MEDIA"}`, token: "FQoGZXIvYXdzE//token+with/slashes=="},
		{name: "other region", method: "POST", path: "/describeStream", body: `{}`, region: "eu-central-1"},
		{name: "query params", method: "GET", path: "/?b=2&a=1&a=0&sp=a%20b&plus=a%2Bb&tilde=~x&slash=a%2Fb&uni=%E1%88%B4&empty="},
		{name: "escaped path", method: "GET", path: "/a%20b/%E1%88%B4/x"},
		{name: "unnormalized path", method: "GET", path: "/foo//bar/./baz/../q"},
		{name: "header spaces", method: "POST", path: "/tagStream", body: `{"Tags":{"k":"v"}}`, header: map[string]string{"X-Amzn-Custom": "  a   b    c  ", "X-Amzn-Other": "x"}},
		{name: "unsigned payload header", method: "POST", path: "/putMedia", body: "binary\x00data", payloadHash: UnsignedPayload, sendHash: true},
		{name: "hex payload header", method: "POST", path: "/describeStream", body: `{"StreamName":"x"}`, sendHash: true},
		{name: "large JSON body", method: "POST", path: "/updateStream", body: `{"pad":"` + strings.Repeat("x", 200000) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.body == "" {
				req.Body, req.ContentLength = http.NoBody, 0
			}
			for k, val := range tt.header {
				req.Header.Set(k, val)
			}
			hash := tt.payloadHash
			if hash == "" {
				hash = sha256Hex([]byte(tt.body))
			}
			if tt.sendHash {
				req.Header.Set("X-Amz-Content-Sha256", hash)
			}
			region := tt.region
			if region == "" {
				region = "us-west-2"
			}
			creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: tt.token}
			if err := signer.SignHTTP(context.Background(), creds, req, hash, "kinesisvideo", region, now); err != nil {
				t.Fatal(err)
			}
			rep, apiErr, status := do(t, srv.Client(), req)
			if apiErr != nil {
				t.Fatalf("status %d: %v", status, apiErr)
			}
			if rep.AccessKeyID != testAKID || rep.Region != region || rep.SessionToken != tt.token || rep.Body != tt.body {
				t.Errorf("reply = %+v", rep)
			}
		})
	}
}

func TestVerifySDKSignHTTPRejects(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newVerifier(t, VerifierConfig{Credentials: testCreds, Regions: []string{"us-west-2"}, Now: fixedNow(now)})
	srv := startEchoServer(t, v)
	signer := v4.NewSigner()

	tests := []struct {
		name    string
		creds   aws.Credentials
		service string
		region  string
		at      time.Time
		mutate  func(*http.Request)
		hash    string
		code    Code
		msg     string // prefix
	}{
		{name: "wrong secret", creds: aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "nope"}, code: InvalidSignature, msg: msgSignatureMismach},
		{name: "unknown key", creds: aws.Credentials{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: "x"}, code: UnrecognizedClient, msg: "The security token included in the request is invalid."},
		{name: "wrong service", service: "s3", code: InvalidSignature, msg: "Credential should be scoped to correct service: 'kinesisvideo'."},
		{name: "wrong region", region: "us-east-1", code: InvalidSignature, msg: "Credential should be scoped to a valid region"},
		{name: "too old", at: now.Add(-10 * time.Minute), code: InvalidSignature, msg: "Signature expired: 20231231T235000Z is now earlier than 20231231T235500Z (20240101T000000Z - 5 min.)"},
		{name: "too new", at: now.Add(6 * time.Minute), code: InvalidSignature, msg: "Signature not yet current: 20240101T000600Z is still later than 20240101T000500Z (20240101T000000Z + 5 min.)"},
		{name: "body changed", mutate: func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader(`{"StreamName":"cam-2"}`)) }, code: InvalidSignature, msg: msgSignatureMismach},
		{name: "header changed", mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, code: InvalidSignature, msg: msgSignatureMismach},
		{name: "query added", mutate: func(r *http.Request) { r.URL.RawQuery = "x=1" }, code: InvalidSignature, msg: msgSignatureMismach},
		{name: "path changed", mutate: func(r *http.Request) { r.URL.Path = "/deleteStream" }, code: InvalidSignature, msg: msgSignatureMismach},
		{name: "date header changed", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20240101T000001Z") }, code: InvalidSignature, msg: msgSignatureMismach},
		{name: "content hash header lies", hash: sha256Hex([]byte("other")), mutate: func(r *http.Request) {}, code: InvalidSignature, msg: "The x-amz-content-sha256 header does not match"},
		{name: "no auth", mutate: func(r *http.Request) { r.Header.Del("Authorization") }, code: MissingAuthenticationToken, msg: "Missing Authentication Token"},
		{name: "no date", mutate: func(r *http.Request) { r.Header.Del("X-Amz-Date") }, code: IncompleteSignature, msg: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."},
		{name: "bad date", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2024-01-01T00:00:00Z") }, code: IncompleteSignature, msg: "Date must be in ISO-8601 basic format"},
		{name: "no signature", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Split(r.Header.Get("Authorization"), ", Signature=")[0])
		}, code: IncompleteSignature, msg: "Authorization header requires 'Signature' parameter."},
		{name: "scope date mismatch", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20240101/", "/20231231/", 1))
		}, code: InvalidSignature, msg: "Date in Credential scope does not match"},
		{name: "bad terminator", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/aws4_request", "/aws5_request", 1))
		}, code: IncompleteSignature, msg: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{name: "short credential", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-west-2/kinesisvideo", "", 1))
		}, code: IncompleteSignature, msg: "Credential must have the form"},
		{name: "host unsigned", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=content-length;content-type;host;", "SignedHeaders=content-length;content-type;", 1))
		}, code: IncompleteSignature, msg: "SignedHeaders must include 'host'"},
		{name: "sigv4a", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1))
		}, code: IncompleteSignature, msg: "Unsupported Authorization scheme \"AWS4-ECDSA-P256-SHA256\""},
		{name: "header and query", mutate: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Signature=00" }, code: IncompleteSignature, msg: "Only one authentication method is allowed"},
		{name: "malformed signature", mutate: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-4]+"zzzz")
		}, code: InvalidSignature, msg: msgSignatureMismach},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"StreamName":"cam-1"}`
			req, _ := http.NewRequest("POST", srv.URL+"/describeStream", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			creds := tt.creds
			if creds.AccessKeyID == "" {
				creds = aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
			}
			service, region, at := tt.service, tt.region, tt.at
			if service == "" {
				service = "kinesisvideo"
			}
			if region == "" {
				region = "us-west-2"
			}
			if at.IsZero() {
				at = now
			}
			hash := sha256Hex([]byte(body))
			if tt.hash != "" {
				hash = tt.hash
				req.Header.Set("X-Amz-Content-Sha256", hash)
			}
			if err := signer.SignHTTP(context.Background(), creds, req, hash, service, region, at); err != nil {
				t.Fatal(err)
			}
			if tt.mutate != nil {
				tt.mutate(req)
			}
			_, apiErr, status := do(t, srv.Client(), req)
			if apiErr == nil {
				t.Fatal("request accepted")
			}
			if status != http.StatusForbidden || apiErr.Code != tt.code || !strings.HasPrefix(apiErr.Message, tt.msg) {
				t.Errorf("got %d %s %q\nwant 403 %s %q...", status, apiErr.Code, apiErr.Message, tt.code, tt.msg)
			}
		})
	}
}

// presign builds a KVS signaling-style presigned WSS URL (as http://) with
// aws-sdk-go-v2's PresignHTTP.
func presign(t testing.TB, base string, at time.Time, expires string, token string) string {
	t.Helper()
	q := url.Values{}
	q.Set("X-Amz-ChannelARN", "arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo-channel/1234567890123")
	q.Set("X-Amz-ClientId", "viewer 1")
	if expires != "" {
		q.Set("X-Amz-Expires", expires)
	}
	req, _ := http.NewRequest("GET", base+"/?"+q.Encode(), nil)
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: token}
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, EmptyPayloadHash, "kinesisvideo", "us-west-2", at)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestVerifySDKPresignHTTP(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := now
	var mu sync.Mutex
	v := newVerifier(t, VerifierConfig{Credentials: testCreds, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	setClock := func(c time.Time) { mu.Lock(); clock = c; mu.Unlock() }
	srv := startEchoServer(t, v)
	get := func(u string) (*echoReply, *Error, int) {
		req, _ := http.NewRequest("GET", u, nil)
		return do(t, srv.Client(), req)
	}

	t.Run("valid with token", func(t *testing.T) {
		setClock(now.Add(298 * time.Second))
		rep, apiErr, _ := get(presign(t, srv.URL, now, "299", "session/token+1=="))
		if apiErr != nil || rep.SessionToken != "session/token+1==" || rep.Region != "us-west-2" {
			t.Fatalf("reply %+v, err %v", rep, apiErr)
		}
	})
	t.Run("seven days", func(t *testing.T) {
		setClock(now.Add(7 * 24 * time.Hour))
		if _, apiErr, _ := get(presign(t, srv.URL, now, "604800", "")); apiErr != nil {
			t.Fatal(apiErr)
		}
	})
	t.Run("no expires is valid for the skew", func(t *testing.T) {
		setClock(now.Add(4 * time.Minute))
		if _, apiErr, _ := get(presign(t, srv.URL, now, "", "")); apiErr != nil {
			t.Fatal(apiErr)
		}
	})

	for _, tt := range []struct {
		name    string
		clock   time.Time
		expires string
		mutate  func(string) string
		status  int
		code    Code
		msg     string
	}{
		{name: "expired", clock: now.Add(300 * time.Second), expires: "299", status: 403, code: AccessDenied, msg: "Signature expired: 20240101T000000Z is now earlier than 20240101T000001Z (20240101T000500Z - 299 sec.)"},
		{name: "not yet current", clock: now.Add(-6 * time.Minute), expires: "299", status: 403, code: AccessDenied, msg: "Signature not yet current: 20240101T000000Z is still later than 20231231T235900Z"},
		{name: "expires too long", clock: now, expires: "604801", status: 403, code: IncompleteSignature, msg: "X-Amz-Expires must be at most 604800 seconds; got 604801."},
		{name: "expires malformed", clock: now, expires: "-1", status: 403, code: IncompleteSignature, msg: "X-Amz-Expires must be a non-negative integer"},
		{name: "channel changed", clock: now, expires: "299", mutate: func(u string) string { return strings.Replace(u, "demo-channel", "other-channel", 1) }, status: 403, code: InvalidSignature, msg: msgSignatureMismach},
		{name: "expires changed", clock: now, expires: "299", mutate: func(u string) string { return strings.Replace(u, "X-Amz-Expires=299", "X-Amz-Expires=600", 1) }, status: 403, code: InvalidSignature, msg: msgSignatureMismach},
		{name: "signature dropped", clock: now, expires: "299", mutate: func(u string) string { return u[:strings.Index(u, "&X-Amz-Signature=")] }, status: 403, code: IncompleteSignature, msg: "AWS query-string authentication requires"},
		{name: "algorithm changed", clock: now, expires: "299", mutate: func(u string) string {
			return strings.Replace(u, "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=HMAC", 1)
		}, status: 403, code: IncompleteSignature, msg: "X-Amz-Algorithm only supports"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setClock(tt.clock)
			u := presign(t, srv.URL, now, tt.expires, "")
			if tt.mutate != nil {
				u = tt.mutate(u)
			}
			_, apiErr, status := get(u)
			if apiErr == nil {
				t.Fatal("request accepted")
			}
			if status != tt.status || apiErr.Code != tt.code || !strings.HasPrefix(apiErr.Message, tt.msg) {
				t.Errorf("got %d %s %q\nwant %d %s %q...", status, apiErr.Code, apiErr.Message, tt.status, tt.code, tt.msg)
			}
		})
	}
}

// TestKinesisVideoClient drives the real aws-sdk-go-v2 kinesisvideo client
// against a loopback server wrapped by Middleware.
func TestKinesisVideoClient(t *testing.T) {
	v := newVerifier(t, VerifierConfig{Credentials: testCreds, Regions: []string{"us-west-2"}})
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ StreamName string }
		if err := DecodeJSON(r, &in); err != nil {
			WriteError(w, r, err)
			return
		}
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+in.StreamName+" "+IdentityFrom(r.Context()).AccessKeyID)
		mu.Unlock()
		WriteJSON(w, map[string]any{"StreamInfo": map[string]any{"StreamName": in.StreamName, "Status": "ACTIVE", "Version": "1"}})
	})))
	defer srv.Close()

	client := func(akid, secret, region string) *kinesisvideo.Client {
		return kinesisvideo.New(kinesisvideo.Options{
			Region:           region,
			BaseEndpoint:     aws.String(srv.URL),
			Credentials:      credentials.NewStaticCredentialsProvider(akid, secret, ""),
			RetryMaxAttempts: 1,
		})
	}
	ctx := context.Background()

	out, err := client(testAKID, testSecret, "us-west-2").DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam-1")})
	if err != nil {
		t.Fatalf("DescribeStream: %v", err)
	}
	if aws.ToString(out.StreamInfo.StreamName) != "cam-1" {
		t.Errorf("StreamName = %q", aws.ToString(out.StreamInfo.StreamName))
	}
	if len(seen) != 1 || seen[0] != "/describeStream cam-1 "+testAKID {
		t.Errorf("handler saw %q", seen)
	}

	for _, tt := range []struct {
		name                 string
		akid, secret, region string
		code                 string
	}{
		{"wrong secret", testAKID, "wrong", "us-west-2", "InvalidSignatureException"},
		{"unknown key", "AKIAUNKNOWN", "x", "us-west-2", "UnrecognizedClientException"},
		{"wrong region", testAKID, testSecret, "eu-west-1", "InvalidSignatureException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client(tt.akid, tt.secret, tt.region).DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam-1")})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
}
