package kvswebrtc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// rfc3986 escapes as SigV4's canonical query wants (unreserved kept).
func rfc3986(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// TestPresignURL checks PresignURL against a signature computed here from
// the SigV4 spec (canonical request over the query without the signature,
// host as the only signed header, empty-payload hash): what KVS and
// openkvs verify.
func TestPresignURL(t *testing.T) {
	const arn = "arn:aws:kinesisvideo:us-west-2:123456789012:channel/cam/1234567890123"
	at := time.Date(2026, 12, 3, 15, 4, 5, 0, time.UTC)
	tests := []struct {
		name, endpoint, clientID, token, wantScheme, wantHost string
		expires                                               time.Duration
		wantExpires                                           string
	}{
		{name: "master", endpoint: "wss://v-1a2b3c4d.kinesisvideo.us-west-2.amazonaws.com", wantScheme: "wss", wantHost: "v-1a2b3c4d.kinesisvideo.us-west-2.amazonaws.com", wantExpires: "300"},
		{name: "viewer-token", endpoint: "wss://v-1a2b3c4d.kinesisvideo.us-west-2.amazonaws.com", clientID: "viewer-1", token: "FQoGZXIvYXdzE//token+/=", wantScheme: "wss", wantHost: "v-1a2b3c4d.kinesisvideo.us-west-2.amazonaws.com", expires: 7 * 24 * time.Hour, wantExpires: "604800"},
		{name: "plain-port", endpoint: "ws://127.0.0.1:8080", clientID: "v.2_x-y", wantScheme: "ws", wantHost: "127.0.0.1:8080", expires: 30 * 24 * time.Hour, wantExpires: "604800"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: tt.token}
			got, err := PresignURL(context.Background(), PresignInput{Endpoint: tt.endpoint, ChannelARN: arn, ClientID: tt.clientID, Region: "us-west-2", Credentials: creds, Time: at, Expires: tt.expires})
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if u.Scheme != tt.wantScheme || u.Host != tt.wantHost || u.Path != "/" {
				t.Errorf("URL %s: want %s://%s/", got, tt.wantScheme, tt.wantHost)
			}
			q := u.Query()
			want := map[string]string{
				"X-Amz-Algorithm":     "AWS4-HMAC-SHA256",
				"X-Amz-ChannelARN":    arn,
				"X-Amz-Credential":    "AKIDEXAMPLE/20261203/us-west-2/kinesisvideo/aws4_request",
				"X-Amz-Date":          "20261203T150405Z",
				"X-Amz-Expires":       tt.wantExpires,
				"X-Amz-SignedHeaders": "host",
			}
			if tt.clientID != "" {
				want["X-Amz-ClientId"] = tt.clientID
			}
			if tt.token != "" {
				want["X-Amz-Security-Token"] = tt.token
			}
			for k, v := range want {
				if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			if len(q) != len(want)+1 {
				t.Errorf("query has %d parameters, want %d: %v", len(q), len(want)+1, q)
			}
			// The signature, from the spec.
			keys := make([]string, 0, len(want))
			for k := range want {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var cq []string
			for _, k := range keys {
				cq = append(cq, rfc3986(k)+"="+rfc3986(want[k]))
			}
			creq := strings.Join([]string{"GET", "/", strings.Join(cq, "&"), "host:" + tt.wantHost + "\n", "host", emptySHA256}, "\n")
			h := sha256.Sum256([]byte(creq))
			sts := "AWS4-HMAC-SHA256\n20261203T150405Z\n20261203/us-west-2/kinesisvideo/aws4_request\n" + hex.EncodeToString(h[:])
			mac := hmac.New(sha256.New, awsapi.DeriveSigningKey(creds.SecretAccessKey, "20261203", "us-west-2", "kinesisvideo"))
			mac.Write([]byte(sts))
			if sig := hex.EncodeToString(mac.Sum(nil)); q.Get("X-Amz-Signature") != sig {
				t.Errorf("signature %s, want %s (canonical request:\n%s)", q.Get("X-Amz-Signature"), sig, creq)
			}
		})
	}
}

func TestPresignURLErrors(t *testing.T) {
	for _, in := range []PresignInput{
		{Endpoint: "https://x", ChannelARN: "a"},                    // no region
		{Endpoint: "ftp://x", ChannelARN: "a", Region: "us-west-2"}, // scheme
		{Endpoint: "::", ChannelARN: "a", Region: "us-west-2"},      // unparsable
	} {
		if _, err := PresignURL(context.Background(), in); err == nil {
			t.Errorf("PresignURL(%+v) succeeded", in)
		}
	}
}
