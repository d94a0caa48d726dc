package signaling_test

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testserver"
)

// TestServeConnectRate runs openkvs serve with --signaling-connect-rate 2
// (not KVS' 3, to show the setting reaches the signaling service): the 3rd
// ConnectAsViewer in one second of the server's clock gets
// ClientLimitExceededException 400, and a second later viewers connect
// again.
func TestServeConnectRate(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := testserver.Start(t, testserver.Options{Now: clk.Now, Configure: func(c *config.Config) {
		c.Signaling.ConnectRate = 2
	}})
	kv := kinesisvideo.NewFromConfig(s.AWSConfig(s.HTTPSURL))
	arn, wss, _ := endpoints(t, kv, "rate-demo")
	for i := range 2 {
		dial(t, s, clk.Now(), wss, arn, fmt.Sprint("viewer-", i))
	}
	_, resp, err := tryDial(t, s, clk.Now(), wss, arn, "viewer-2")
	if err == nil {
		t.Fatal("3rd viewer in one second connected")
	}
	if resp == nil {
		t.Fatalf("no HTTP answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("x-amzn-ErrorType") != string(awsapi.ClientLimitExceeded) {
		t.Fatalf("3rd viewer: %d %s %s, want 400 %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body, awsapi.ClientLimitExceeded)
	}
	clk.Add(time.Second)
	dial(t, s, clk.Now(), wss, arn, "viewer-2")
}
