package kvswebrtc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/pion/webrtc/v4"
)

// ICEServer is one entry of GetIceServerConfig's IceServerList: TURN URIs
// and their short-lived credentials.
type ICEServer struct {
	URIs     []string      `json:"Uris"`
	Username string        `json:"Username"`
	Password string        `json:"Password"`
	TTL      time.Duration `json:"-"`
}

// APIError is an error answer of a KVS HTTPS API.
type APIError struct {
	StatusCode int
	Type       string
	Message    string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("kvswebrtc: %d %s: %s", e.StatusCode, e.Type, e.Message)
}

// ICEConfigInput is a GetIceServerConfig request.
type ICEConfigInput struct {
	// Endpoint is the channel's HTTPS endpoint.
	Endpoint string
	// ChannelARN and ClientID are the request members (Service is always
	// TURN).
	ChannelARN, ClientID string
	// Region and Credentials sign the request.
	Region      string
	Credentials aws.Credentials
	// HTTPClient sends it. Defaults to http.DefaultClient.
	HTTPClient aws.HTTPClient
	// Time is the signing time. Defaults to time.Now().
	Time time.Time
}

// GetICEServerConfig calls GetIceServerConfig (POST
// /v1/get-ice-server-config on the HTTPS signaling endpoint) and returns
// the TURN servers.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_signaling_GetIceServerConfig.html
func GetICEServerConfig(ctx context.Context, in ICEConfigInput) ([]ICEServer, error) {
	body, _ := json.Marshal(struct {
		ChannelARN string
		ClientId   string `json:",omitempty"` //nolint:revive // the wire name
		Service    string
	}{in.ChannelARN, in.ClientID, "TURN"})
	url := strings.TrimSuffix(in.Endpoint, "/") + "/v1/get-ice-server-config"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("get ice server config: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	t := in.Time
	if t.IsZero() {
		t = time.Now()
	}
	if err := v4.NewSigner().SignHTTP(ctx, in.Credentials, req, hex.EncodeToString(sum[:]), SigningName, in.Region, t); err != nil {
		return nil, fmt.Errorf("get ice server config: sign: %w", err)
	}
	hc := in.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get ice server config: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("get ice server config: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get ice server config: %w", parseAPIError(resp, data))
	}
	var out struct {
		IceServerList []struct {
			Uris     []string
			Username string
			Password string
			Ttl      int64 //nolint:revive // the wire name
		}
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("get ice server config: response: %w", err)
	}
	servers := make([]ICEServer, 0, len(out.IceServerList))
	for _, s := range out.IceServerList {
		servers = append(servers, ICEServer{URIs: s.Uris, Username: s.Username, Password: s.Password, TTL: time.Duration(s.Ttl) * time.Second})
	}
	return servers, nil
}

func parseAPIError(resp *http.Response, data []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode}
	var body struct {
		Type     string `json:"__type"`
		Message  string `json:"message"`
		Message2 string `json:"Message"`
	}
	_ = json.Unmarshal(data, &body)
	e.Type = resp.Header.Get("X-Amzn-Errortype")
	if e.Type == "" {
		e.Type = body.Type
	}
	if i := strings.IndexByte(e.Type, ':'); i >= 0 {
		e.Type = e.Type[:i]
	}
	if i := strings.LastIndexByte(e.Type, '#'); i >= 0 {
		e.Type = e.Type[i+1:]
	}
	e.Message = body.Message
	if e.Message == "" {
		e.Message = body.Message2
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(data))
	}
	return e
}

// WebRTCICEServers converts servers for a webrtc.Configuration, adding
// stunURL (if not empty) as a STUN server first.
func WebRTCICEServers(stunURL string, servers []ICEServer) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	if stunURL != "" {
		out = append(out, webrtc.ICEServer{URLs: []string{stunURL}})
	}
	for _, s := range servers {
		out = append(out, webrtc.ICEServer{URLs: s.URIs, Username: s.Username, Credential: s.Password})
	}
	return out
}

// DefaultSTUNURL is the STUN server the KVS SDKs use in region.
func DefaultSTUNURL(region string) string {
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return "stun:stun.kinesisvideo." + region + "." + suffix + ":443"
}
