package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testserver"
)

// TestGetMediaLimitFromConfig: the server passes Media.GetMedia to
// playback; with one session allowed per stream, a second concurrent
// GetMedia is refused with ConnectionLimitExceededException.
func TestGetMediaLimitFromConfig(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Configure: func(c *config.Config) {
		c.Media.GetMedia.MaxSessionsPerStream = 1
	}})
	ctx := context.Background()
	cfg := srv.AWSConfig(srv.HTTPURL)
	if _, err := kinesisvideo.NewFromConfig(cfg).CreateStream(ctx, &kinesisvideo.CreateStreamInput{
		StreamName: aws.String("cam"), DataRetentionInHours: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	getMedia := func() *http.Response {
		t.Helper()
		body := []byte(`{"StreamName":"cam","StartSelector":{"StartSelectorType":"NOW"}}`)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.HTTPURL+"/getMedia", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kinesisvideo", cfg.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := getMedia(); r.StatusCode != http.StatusOK {
		t.Fatalf("first GetMedia: status %d", r.StatusCode)
	}
	r := getMedia()
	if r.StatusCode == http.StatusOK || r.Header.Get("x-amzn-ErrorType") != "ConnectionLimitExceededException" {
		t.Fatalf("second GetMedia: status %d, type %q", r.StatusCode, r.Header.Get("x-amzn-ErrorType"))
	}
}
