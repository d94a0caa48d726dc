package awsapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BenchmarkVerify verifies a header-signed DescribeStream request as
// aws-sdk-go-v2 sends it (JSON body hashed by the server).
func BenchmarkVerify(b *testing.B) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newVerifier(b, VerifierConfig{Credentials: testCreds, Now: fixedNow(now)})
	body := []byte(`{"StreamName":"cam-1"}`)
	req, _ := http.NewRequest("POST", "https://kinesisvideo.us-west-2.amazonaws.com/describeStream", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aws-sdk-go-v2/1.48.0 os/linux lang/go#1.26 md/GOOS#linux api/kinesisvideo#1.34.0")
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex(body), "kinesisvideo", "us-west-2", now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		if _, err := v.Verify(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPresigned verifies a signaling-channel presigned URL.
func BenchmarkVerifyPresigned(b *testing.B) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newVerifier(b, VerifierConfig{Credentials: testCreds, Now: fixedNow(now)})
	u := presign(b, "https://m-1234abcd.kinesisvideo.us-west-2.amazonaws.com", now, "299", "token")
	req, _ := http.NewRequest("GET", u, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(req); err != nil {
			b.Fatal(err)
		}
	}
}
