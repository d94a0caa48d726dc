package awsapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestVerifySessionTokens checks that a session token must be the one
// issued with the access key, as AWS refuses a token it did not issue (or
// any token with a long-term key), in the header and in presigned URLs.
func TestVerifySessionTokens(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const plainKey, plainSecret = "AKIAOPENKVSPLAIN0001", "plain/secret"
	v := newVerifier(t, VerifierConfig{
		Credentials:   map[string]string{testAKID: testSecret, plainKey: plainSecret},
		SessionTokens: map[string]string{testAKID: "issued/token+1=="},
		Now:           fixedNow(now),
	})
	tests := []struct {
		name, key, secret, token string
		wantErr                  bool
		wantMsg                  string
	}{
		{"issued token", testAKID, testSecret, "issued/token+1==", false, ""},
		{"no token with a key that has one", testAKID, testSecret, "", false, ""},
		{"no token with a long-term key", plainKey, plainSecret, "", false, ""},
		{"garbage token", testAKID, testSecret, "garbage", true, ""},
		{"issued token, one byte short", testAKID, testSecret, "issued/token+1=", true, ""},
		{"binary garbage", testAKID, testSecret, "\x00\xff\x01", true, ""},
		{"token with a long-term key", plainKey, plainSecret, "issued/token+1==", true, "unset AWS_SESSION_TOKEN"},
	}
	for _, tt := range tests {
		creds := aws.Credentials{AccessKeyID: tt.key, SecretAccessKey: tt.secret, SessionToken: tt.token}
		t.Run(tt.name+"/header", func(t *testing.T) {
			req := httptest.NewRequest("POST", "http://127.0.0.1:8080/listStreams", strings.NewReader("{}"))
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex([]byte("{}")), "kinesisvideo", "us-west-2", now); err != nil {
				t.Fatal(err)
			}
			checkTokenResult(t, v, req, tt.wantErr, tt.wantMsg)
		})
		t.Run(tt.name+"/presigned", func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://127.0.0.1:8443/?X-Amz-ChannelARN=arn", nil)
			u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, EmptyPayloadHash, "kinesisvideo", "us-west-2", now)
			if err != nil {
				t.Fatal(err)
			}
			checkTokenResult(t, v, httptest.NewRequest("GET", u, nil), tt.wantErr, tt.wantMsg)
		})
	}

	// A verifier given no token table leaves tokens unchecked.
	open := newVerifier(t, VerifierConfig{Credentials: testCreds, Now: fixedNow(now)})
	req := httptest.NewRequest("POST", "http://127.0.0.1:8080/listStreams", nil)
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: "anything"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, EmptyPayloadHash, "kinesisvideo", "us-west-2", now); err != nil {
		t.Fatal(err)
	}
	if _, err := open.Verify(req); err != nil {
		t.Fatalf("unchecked tokens: %v", err)
	}
}

func checkTokenResult(t *testing.T, v *Verifier, r *http.Request, wantErr bool, wantMsg string) {
	t.Helper()
	_, err := v.Verify(r)
	if !wantErr {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	e := AsError(err)
	if e.Code != UnrecognizedClient || e.Status() != http.StatusForbidden ||
		!strings.HasPrefix(e.Message, "The security token included in the request is invalid.") || !strings.Contains(e.Message, wantMsg) {
		t.Fatalf("err = %v (status %d); want 403 UnrecognizedClientException", err, e.Status())
	}
}
