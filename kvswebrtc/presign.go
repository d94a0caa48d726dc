package kvswebrtc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SigningName is the SigV4 service name of every KVS API.
const SigningName = "kinesisvideo"

// emptySHA256 is the hex SHA-256 of an empty payload.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// PresignInput describes the WebSocket URL to sign.
type PresignInput struct {
	// Endpoint is the channel's WSS endpoint (wss://host[:port]).
	Endpoint string
	// ChannelARN goes into X-Amz-ChannelARN.
	ChannelARN string
	// ClientID, set for viewers, goes into X-Amz-ClientId.
	ClientID string
	// Region is the signing region.
	Region string
	// Credentials sign the URL; a session token is included and signed.
	Credentials aws.Credentials
	// Time is the signing time.
	Time time.Time
	// Expires is X-Amz-Expires. Defaults to 5 minutes; at most 7 days.
	Expires time.Duration
}

// PresignURL returns the SigV4-presigned WebSocket URL a master (no client
// id) or viewer opens: query auth with host as the only signed header and
// the session token inside the signed query, as KVS requires.
func PresignURL(ctx context.Context, in PresignInput) (string, error) {
	u, err := url.Parse(in.Endpoint)
	if err != nil {
		return "", fmt.Errorf("kvswebrtc: wss endpoint: %w", err)
	}
	if in.Region == "" {
		return "", errors.New("kvswebrtc: no signing region")
	}
	var wsScheme string
	switch u.Scheme {
	case "wss", "https":
		u.Scheme, wsScheme = "https", "wss"
	case "ws", "http":
		u.Scheme, wsScheme = "http", "ws"
	default:
		return "", fmt.Errorf("kvswebrtc: wss endpoint %q: scheme must be wss or ws", in.Endpoint)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	exp := in.Expires
	if exp <= 0 {
		exp = 5 * time.Minute
	}
	if exp > 7*24*time.Hour {
		exp = 7 * 24 * time.Hour
	}
	q := url.Values{}
	q.Set("X-Amz-ChannelARN", in.ChannelARN)
	if in.ClientID != "" {
		q.Set("X-Amz-ClientId", in.ClientID)
	}
	q.Set("X-Amz-Expires", strconv.Itoa(int(exp/time.Second)))
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("kvswebrtc: presign: %w", err)
	}
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, in.Credentials, req, emptySHA256, SigningName, in.Region, in.Time)
	if err != nil {
		return "", fmt.Errorf("kvswebrtc: presign: %w", err)
	}
	return wsScheme + strings.TrimPrefix(signed, u.Scheme), nil
}
