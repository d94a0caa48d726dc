package signaling

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// TestPresignedURL connects with URLs presigned by aws-sdk-go-v2's SigV4
// signer, good and bad. Refusals are AWS JSON errors before the upgrade,
// and a connected client is not disturbed by them.
func TestPresignedURL(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("auth", 60)
	m := h.dial(arn, "")
	now := h.clock.Now()

	tamper := func(u, from, to string) string { return strings.Replace(u, from, to, 1) }
	for _, tc := range []struct {
		name   string
		url    string
		status int
		code   awsapi.Code
		body   string // substring of the error message
	}{
		{name: "JS SDK: 299 s", url: h.presign(arn, "v1", presignOpts{}), status: 101},
		{name: "session token signed", url: h.presign(arn, "v2", presignOpts{token: "FwoGZXIvYXdzEJr//////////wEaDtoken+/="}), status: 101},
		{name: "C SDK: 7 days, 6 days old", url: h.presign(arn, "v3", presignOpts{expires: 604800 * time.Second, at: now.Add(-6 * 24 * time.Hour)}), status: 101},
		{name: "expired", url: h.presign(arn, "v4", presignOpts{at: now.Add(-300 * time.Second)}), status: 403, body: "expired"},
		{name: "over 7 days", url: h.presign(arn, "v5", presignOpts{expires: 604801 * time.Second}), status: 403, code: awsapi.IncompleteSignature, body: "604800"},
		{name: "wrong secret", url: h.presign(arn, "v6", presignOpts{secret: "not-the-secret"}), status: 403, code: awsapi.InvalidSignature},
		{name: "client id changed after signing", url: tamper(h.presign(arn, "v7", presignOpts{}), "X-Amz-ClientId=v7", "X-Amz-ClientId=v8"), status: 403, code: awsapi.InvalidSignature},
		{name: "unsigned", url: h.ws + "/?X-Amz-ChannelARN=" + url.QueryEscape(arn), status: 403, code: awsapi.MissingAuthenticationToken},
		{name: "no channel ARN", url: h.presign(arn, "", presignOpts{rawQuery: "X-Amz-ClientId=v1&X-Amz-Expires=299"}), status: 400, code: awsapi.InvalidArgument, body: "X-Amz-ChannelARN"},
		{name: "not a channel ARN", url: h.presign("arn:aws:kinesisvideo:us-west-2:123456789012:stream/auth/1", "v1", presignOpts{}), status: 400, code: awsapi.InvalidArgument},
		{name: "unknown channel", url: h.presign(strings.Replace(arn, "/auth/", "/nope/", 1), "v1", presignOpts{}), status: 404, code: awsapi.ResourceNotFound},
		{name: "stale ARN of the name", url: h.presign(strings.Replace(arn, "/auth/1", "/auth/2", 1), "v1", presignOpts{}), status: 404, code: awsapi.ResourceNotFound},
		{name: "bad client id", url: h.presign(arn, "has space", presignOpts{}), status: 400, code: awsapi.InvalidArgument},
		{name: "empty client id", url: h.presign(arn, "", presignOpts{rawQuery: "X-Amz-ChannelARN=" + url.QueryEscape(arn) + "&X-Amz-ClientId=&X-Amz-Expires=299"}), status: 400, code: awsapi.InvalidArgument},
		{name: "reserved client id", url: h.presign(arn, "AWS_v1", presignOpts{}), status: 400, code: awsapi.InvalidArgument, body: "AWS_"},
		{name: "client id of 257", url: h.presign(arn, strings.Repeat("a", 257), presignOpts{}), status: 400, code: awsapi.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, res, err := h.tryDial(tc.url)
			if tc.status == 101 {
				if err != nil {
					t.Fatalf("refused: %v %s", err, res)
				}
				c.name = tc.name
				c.send(msg(ActionSDPOffer, "", offer, ""))
				m.expect(ActionSDPOffer)
				return
			}
			if err == nil {
				t.Fatal("connected")
			}
			if res.status != tc.status || (tc.code != "" && res.code != string(tc.code)) || !strings.Contains(res.body, tc.body) {
				t.Fatalf("got %s, want %d %s %q", res, tc.status, tc.code, tc.body)
			}
			if !strings.Contains(res.body, `"__type"`) {
				t.Errorf("body is not an AWS JSON error: %s", res.body)
			}
		})
	}
	m.sync()
}

// TestPlainGET: a validly signed GET that is no WebSocket upgrade is
// refused before it can replace the master or take queued messages.
func TestPlainGET(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("plain", 60)
	m := h.dial(arn, "")
	m.send(msg(ActionSDPAnswer, "v1", answer, "")) // queued for v1
	m.sync()
	for _, id := range []string{"", "v1"} {
		u := "http" + strings.TrimPrefix(h.presign(arn, id, presignOpts{}), "ws")
		resp, err := h.srv.Client().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("x-amzn-ErrorType") != string(awsapi.InvalidArgument) {
			t.Fatalf("plain GET %q: %d %s", id, resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
		}
	}
	m.sync() // still the master
	v := h.dial(arn, "v1")
	expectFrom(t, v, ActionSDPAnswer, "", answer)
}
