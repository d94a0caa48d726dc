package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/aws/smithy-go"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testserver"
)

func TestControlPlaneOverHTTPAndHTTPS(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	ctx := context.Background()
	for _, base := range []string{srv.HTTPURL, srv.HTTPSURL} {
		kv := kinesisvideo.NewFromConfig(srv.AWSConfig(base))
		name := "cam-" + strings.TrimPrefix(strings.SplitN(base, ":", 2)[0], "http")
		if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name), DataRetentionInHours: aws.Int32(1)}); err != nil {
			t.Fatalf("%s: CreateStream: %v", base, err)
		}
		ep, err := kv.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String(name), APIName: types.APINamePutMedia})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(ep.DataEndpoint); got != base {
			t.Errorf("DataEndpoint over %s = %s", base, got)
		}
	}
}

func TestSignalingEndpointsPointAtTLSListener(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	ctx := context.Background()
	kv := srv.KVS()
	ch, err := kv.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("door")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := kv.GetSignalingChannelEndpoint(ctx, &kinesisvideo.GetSignalingChannelEndpointInput{
		ChannelARN: ch.ChannelARN,
		SingleMasterChannelEndpointConfiguration: &types.SingleMasterChannelEndpointConfiguration{
			Protocols: []types.ChannelProtocol{types.ChannelProtocolWss, types.ChannelProtocolHttps}, Role: types.ChannelRoleViewer,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(srv.HTTPSURL, "https://")
	want := map[types.ChannelProtocol]string{types.ChannelProtocolWss: "wss://" + host, types.ChannelProtocolHttps: "https://" + host}
	for _, e := range out.ResourceEndpointList {
		if aws.ToString(e.ResourceEndpoint) != want[e.Protocol] {
			t.Errorf("%s endpoint = %s, want %s", e.Protocol, aws.ToString(e.ResourceEndpoint), want[e.Protocol])
		}
	}
}

func TestPublicURLOverridesEndpoints(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Configure: func(c *config.Config) { c.PublicURL = "https://kvs.example.test" }})
	ctx := context.Background()
	kv := srv.KVS()
	if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	ep, err := kv.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("s"), APIName: types.APINameGetMedia})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(ep.DataEndpoint); got != "https://kvs.example.test" {
		t.Fatalf("DataEndpoint = %s", got)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	srv := testserver.Start(t, testserver.Options{DataDir: dir})
	created, err := srv.KVS().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("kept"), DataRetentionInHours: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)

	srv2 := testserver.Start(t, testserver.Options{DataDir: dir})
	d, err := srv2.KVS().DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("kept")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.StreamInfo.StreamARN) != aws.ToString(created.StreamARN) || aws.ToInt32(d.StreamInfo.DataRetentionInHours) != 5 {
		t.Fatalf("after restart: %+v", d.StreamInfo)
	}
}

func TestAuthErrors(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	ctx := context.Background()
	tests := []struct {
		name     string
		creds    aws.CredentialsProvider
		wantCode string
	}{
		{"wrong secret", credentials.NewStaticCredentialsProvider(testserver.AccessKeyID, "wrong", ""), "InvalidSignatureException"},
		{"unknown key", credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000000", "x", ""), "UnrecognizedClientException"},
		{"garbage session token", credentials.NewStaticCredentialsProvider(testserver.AccessKeyID, testserver.SecretAccessKey, "garbage"), "UnrecognizedClientException"},
		{"issued session token", credentials.NewStaticCredentialsProvider(testserver.AccessKeyID, testserver.SecretAccessKey, testserver.SessionToken), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.AWSConfig(srv.HTTPURL)
			cfg.Credentials = tt.creds
			_, err := kinesisvideo.NewFromConfig(cfg).ListStreams(ctx, &kinesisvideo.ListStreamsInput{})
			if tt.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.wantCode {
				t.Fatalf("err = %v, want %s", err, tt.wantCode)
			}
		})
	}

	resp, err := http.Post(srv.HTTPURL+"/listStreams", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Fatalf("unsigned: %s %s", resp.Status, resp.Header.Get("x-amzn-ErrorType"))
	}
}

func TestClockSkewRejected(t *testing.T) {
	// The server's clock runs an hour ahead of the client's.
	srv := testserver.Start(t, testserver.Options{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	_, err := srv.KVS().ListStreams(context.Background(), &kinesisvideo.ListStreamsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" || !strings.Contains(ae.ErrorMessage(), "Signature expired") {
		t.Fatalf("err = %v", err)
	}
}

func TestHealthMetricsAndUnknownOperation(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	get := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get(srv.HTTPURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, body, _ := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if _, err := srv.KVS().ListStreams(context.Background(), &kinesisvideo.ListStreamsInput{}); err != nil {
		t.Fatal(err)
	}
	_, _ = srv.KVS().DescribeStream(context.Background(), &kinesisvideo.DescribeStreamInput{StreamName: aws.String("none")})
	code, body, _ := get("/metrics")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{
		`openkvs_requests_total{code="200",operation="ListStreams"} 1`,
		`openkvs_errors_total{operation="DescribeStream",type="ResourceNotFoundException"} 1`,
		`openkvs_request_duration_seconds_count{operation="ListStreams"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	code, _, h := get("/no/such/thing")
	if code != 404 || h.Get("x-amzn-ErrorType") != "UnknownOperationException" || h.Get("x-amzn-RequestId") == "" {
		t.Fatalf("unknown op: %d %v", code, h)
	}
}

// TestTLSServesHTTP1 checks that a client that offers only http/1.1 in ALPN
// (as the KVS C SDKs' libcurl and libwebsockets do) is served.
func TestTLSServesHTTP1(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	c := srv.HTTPClient()
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	resp, err := c.Get(srv.HTTPSURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.TLS.NegotiatedProtocol != "http/1.1" {
		t.Fatalf("proto %s alpn %q", resp.Proto, resp.TLS.NegotiatedProtocol)
	}
}
