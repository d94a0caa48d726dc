package signaling

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// TestGetIceServerConfig: the answer is cut to the C SDK's 5 servers of 4
// URIs, the credential is minted for the channel's client, and bad
// requests get KVS' errors.
func TestGetIceServerConfig(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	h := newHarness(t, func(c *Config) {
		c.ICEServers = func(clientID string) []IceServer {
			mu.Lock()
			asked = append(asked, clientID)
			mu.Unlock()
			var list []IceServer
			for i := range 7 {
				var uris []string
				for j := range 6 {
					uris = append(uris, fmt.Sprintf("turn:10.0.0.%d:%d?transport=udp", i, 3478+j))
				}
				list = append(list, IceServer{Uris: uris, Username: "1700000000:" + clientID, Password: "pw", Ttl: 300})
			}
			return list
		}
	})
	arn := h.channel("ice", 60)

	status, _, body := h.postJSON("/v1/get-ice-server-config", map[string]string{"ChannelARN": arn, "ClientId": "viewer-1", "Service": "TURN"})
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var out struct {
		IceServerList []struct {
			Uris     []string
			Username string
			Password string
			Ttl      json.Number //nolint:revive // wire name
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.IceServerList) != MaxICEServers {
		t.Fatalf("%d servers: %s", len(out.IceServerList), body)
	}
	for _, s := range out.IceServerList {
		if len(s.Uris) != MaxURIsPerICEServer || s.Ttl != "300" || s.Password == "" || !strings.HasSuffix(s.Username, ":ice.viewer-1") {
			t.Fatalf("server %+v", s)
		}
	}
	// The master's call (the C SDK sends its own client id; the JS SDK may
	// send none).
	if status, _, body := h.postJSON("/v1/get-ice-server-config", map[string]string{"ChannelARN": arn}); status != 200 {
		t.Fatalf("no ClientId: %d %s", status, body)
	}
	mu.Lock()
	// Minted for the caller's access key, which the TURN server counts
	// allocations by, then the channel and client.
	if len(asked) != 2 || asked[0] != testKeyID+":ice.viewer-1" || asked[1] != testKeyID+":ice.MASTER" ||
		QuotaKey(asked[0]) != testKeyID {
		t.Errorf("credentials minted for %q", asked)
	}
	mu.Unlock()

	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   awsapi.Code
	}{
		{"no ChannelARN", map[string]string{"Service": "TURN"}, 400, awsapi.InvalidArgument},
		{"service STUN", map[string]string{"ChannelARN": arn, "Service": "STUN"}, 400, awsapi.InvalidArgument},
		{"bad client id", map[string]string{"ChannelARN": arn, "ClientId": "a b"}, 400, awsapi.InvalidArgument},
		{"unknown channel", map[string]string{"ChannelARN": strings.Replace(arn, "/ice/", "/nope/", 1)}, 404, awsapi.ResourceNotFound},
		{"not JSON", "{", 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, body := h.postJSON("/v1/get-ice-server-config", tc.body)
			if status != tc.status || (tc.code != "" && code != string(tc.code)) {
				t.Fatalf("got %d %s %s", status, code, body)
			}
		})
	}
}

// TestGetIceServerConfigTURNOff answers an empty list, not null.
func TestGetIceServerConfigTURNOff(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("noturn", 60)
	status, _, body := h.postJSON("/v1/get-ice-server-config", map[string]string{"ChannelARN": arn, "ClientId": "v", "Service": "TURN"})
	if status != 200 || strings.TrimSpace(string(body)) != `{"IceServerList":[]}` {
		t.Fatalf("%d %s", status, body)
	}
}

// TestSendAlexaOfferToMaster: the offer reaches the master as an SDP_OFFER
// from SenderClientId, its answer is the call's Answer, candidates for the
// caller are dropped, and the channel's rate limit and a master that
// never answers are errors.
func TestSendAlexaOfferToMaster(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.AlexaRate = 1
		c.AlexaTimeout = 200 * time.Millisecond
	})
	arn := h.channel("alexa", 60)
	m := h.dial(arn, "")
	v := h.dial(arn, "v")

	type result struct {
		status int
		code   string
		body   []byte
	}
	call := func(sender string) chan result {
		ch := make(chan result, 1)
		go func() {
			s, c, b := h.postJSON("/v1/send-alexa-offer-to-master", map[string]string{"ChannelARN": arn, "SenderClientId": sender, "MessagePayload": offer})
			ch <- result{s, c, b}
		}()
		return ch
	}
	done := call("alexa-1")
	expectFrom(t, m, ActionSDPOffer, "alexa-1", offer)
	m.send(msg(ActionICECandidate, "alexa-1", cand, ""))
	m.send(msg(ActionSDPAnswer, "alexa-1", answer, ""))
	r := <-done
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"Answer":"`+answer+`"}` {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	v.sync() // nothing of that reached the viewer

	// 1 a second on this channel.
	if r := <-call("alexa-2"); r.status != 400 || r.code != string(awsapi.ClientLimitExceeded) {
		t.Fatalf("second call: %d %s %s", r.status, r.code, r.body)
	}
	// No answer within AlexaTimeout.
	h.clock.Add(time.Second)
	done = call("alexa-3")
	expectFrom(t, m, ActionSDPOffer, "alexa-3", offer)
	if r := <-done; r.status != 404 || r.code != string(awsapi.ResourceNotFound) {
		t.Fatalf("unanswered: %d %s %s", r.status, r.code, r.body)
	}
	// A late answer is queued for a viewer of that id (there is none), not
	// an error.
	m.send(msg(ActionSDPAnswer, "alexa-3", answer, "late"))
	m.sync()

	h.clock.Add(time.Second)
	for _, body := range []map[string]string{
		{"SenderClientId": "a", "MessagePayload": offer},
		{"ChannelARN": arn, "MessagePayload": offer},
		{"ChannelARN": arn, "SenderClientId": "a", "MessagePayload": "not base64!"},
		{"ChannelARN": arn, "SenderClientId": "a", "MessagePayload": strings.Repeat("A", 10004)},
	} {
		if s, c, b := h.postJSON("/v1/send-alexa-offer-to-master", body); s != 400 || c != string(awsapi.InvalidArgument) {
			t.Errorf("%v: %d %s %s", body, s, c, b)
		}
	}
}
