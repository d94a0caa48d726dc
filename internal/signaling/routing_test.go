package signaling

import (
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/openkvs/openkvs/internal/awsapi"
)

var (
	offer  = b64(`{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`)
	answer = b64(`{"type":"answer","sdp":"v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n"}`)
	cand   = b64(`{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}`)
)

// expectFrom checks a delivered message's type, sender and payload.
func expectFrom(t *testing.T, c *client, typ, sender, payload string) {
	t.Helper()
	m := c.expect(typ)
	if m.SenderClientID != sender || m.MessagePayload != payload {
		t.Fatalf("%s: got %s from %q payload %q, want from %q payload %q", c.name, typ, m.SenderClientID, m.MessagePayload, sender, payload)
	}
	if m.StatusResponse != nil {
		t.Fatalf("%s: %s carries a statusResponse", c.name, typ)
	}
}

// TestOfferAnswerICE walks every message path between a master and two
// viewers, in the JS SDK's camel case and the C SDK's Pascal case: viewer
// messages reach the master with the viewer's senderClientId, master
// messages reach the viewer named by recipientClientId, and success is
// never answered, with or without a correlationId.
func TestOfferAnswerICE(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("demo", 60)
	m := h.dial(arn, "")
	v1 := h.dial(arn, "viewer-1")
	v2 := h.dial(arn, "viewer.2")

	v1.send(msg(ActionSDPOffer, "", offer, "c1"))
	expectFrom(t, m, ActionSDPOffer, "viewer-1", offer)
	v1.send(msg(ActionICECandidate, "", cand, ""))
	expectFrom(t, m, ActionICECandidate, "viewer-1", cand)
	v2.send(msg(ActionSDPOffer, "", offer, ""))
	expectFrom(t, m, ActionSDPOffer, "viewer.2", offer)

	m.send(msg(ActionSDPAnswer, "viewer-1", answer, "a1"))
	expectFrom(t, v1, ActionSDPAnswer, "", answer)
	m.send(msg(ActionICECandidate, "viewer-1", cand, ""))
	expectFrom(t, v1, ActionICECandidate, "", cand)
	m.send(msg(ActionSDPAnswer, "viewer.2", answer, ""))
	expectFrom(t, v2, ActionSDPAnswer, "", answer)

	// The C SDK: Pascal-case keys, an always-present RecipientClientId
	// (empty, or its master id "ProducerMaster" from a viewer) and an
	// IceServerList member nobody asked for.
	v1.send(`{"action":"SDP_OFFER","RecipientClientId":"","MessagePayload":"` + offer + `","CorrelationId":"p1",` +
		`"IceServerList":[{"Password":"x","Ttl":300,"Uris":["turn:127.0.0.1:3478"],"Username":"u"}]}`)
	expectFrom(t, m, ActionSDPOffer, "viewer-1", offer)
	v2.send(`{"action":"ICE_CANDIDATE","RecipientClientId":"ProducerMaster","MessagePayload":"` + cand + `"}`)
	expectFrom(t, m, ActionICECandidate, "viewer.2", cand)
	m.send(`{"ACTION":"SDP_ANSWER","RecipientClientId":"viewer-1","MessagePayload":"` + answer + `","CorrelationId":"p2","Extra":{"a":[1,2]}}`)
	expectFrom(t, v1, ActionSDPAnswer, "", answer)

	// No STATUS_RESPONSE for any of that, and nothing crossed over.
	m.sync()
	v1.sync()
	v2.sync()
}

// TestServerMessageWire pins the exact JSON the service sends.
func TestServerMessageWire(t *testing.T) {
	for _, tc := range []struct {
		m    ServerMessage
		want string
	}{
		{ServerMessage{SenderClientID: "v1", MessageType: ActionSDPOffer, MessagePayload: "eA=="},
			`{"senderClientId":"v1","messageType":"SDP_OFFER","messagePayload":"eA=="}`},
		{ServerMessage{MessageType: ActionSDPAnswer, MessagePayload: "eA=="},
			`{"messageType":"SDP_ANSWER","messagePayload":"eA=="}`},
		{ServerMessage{MessageType: TypeGoAway}, `{"messageType":"GO_AWAY"}`},
		{ServerMessage{MessageType: TypeReconnectICEServer}, `{"messageType":"RECONNECT_ICE_SERVER"}`},
	} {
		if got := string(tc.m.encode()); got != tc.want {
			t.Errorf("encode = %s, want %s", got, tc.want)
		}
	}
	got := string(statusFrame("c1", msgErr(awsapi.InvalidArgument, "bad")))
	want := `{"messageType":"STATUS_RESPONSE","statusResponse":{"correlationId":"c1","errorType":"InvalidArgumentException","statusCode":"400","description":"bad"}}`
	if got != want {
		t.Errorf("status frame = %s, want %s", got, want)
	}
}

// TestBadMessages sends every kind of refused message. Each is answered
// with a STATUS_RESPONSE only when it has a correlationId, routes nothing,
// and leaves the sender and every other connection working.
func TestBadMessages(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("bad", 60)
	m := h.dial(arn, "")
	v1 := h.dial(arn, "v1")
	v2 := h.dial(arn, "v2")

	big := b64(strings.Repeat("x", 7681)) // 10244 base64 characters
	maxOK := b64(strings.Repeat("y", 7680))
	if len(maxOK) != DefaultMaxMessageBytes {
		t.Fatalf("fixture: %d", len(maxOK))
	}

	for _, tc := range []struct {
		name   string
		from   *client
		frame  any
		corrID string // the STATUS_RESPONSE expected; "" for none
		code   awsapi.Code
	}{
		{name: "malformed JSON", from: v1, frame: `{"action":"SDP_OFFER",`},
		{name: "not an object", from: v1, frame: `[1,2,3]`},
		{name: "binary garbage", from: v1, frame: []byte{0xff, 0x00, 0x7b}},
		{name: "wrong member type", from: v1, frame: `{"action":5,"correlationId":"t1"}`, corrID: "t1", code: awsapi.InvalidArgument},
		{name: "null payload", from: v1, frame: `{"action":"SDP_OFFER","messagePayload":null,"correlationId":"n1"}`, corrID: "n1", code: awsapi.InvalidArgument},
		{name: "bad base64", from: v1, frame: msg(ActionSDPOffer, "", "not*base64!", "b1"), corrID: "b1", code: awsapi.InvalidArgument},
		{name: "bad base64 uncorrelated", from: v1, frame: msg(ActionSDPOffer, "", "not*base64!", "")},
		{name: "oversize payload", from: v1, frame: msg(ActionSDPOffer, "", big, "o1"), corrID: "o1", code: awsapi.InvalidArgument},
		{name: "unknown action", from: v1, frame: msg("SDP_PRANSWER", "", offer, "u1"), corrID: "u1", code: awsapi.InvalidArgument},
		{name: "no action", from: v1, frame: `{"messagePayload":"` + offer + `","correlationId":"u2"}`, corrID: "u2", code: awsapi.InvalidArgument},
		{name: "empty payload", from: v1, frame: msg(ActionSDPOffer, "", "", "e1"), corrID: "e1", code: awsapi.InvalidArgument},
		{name: "invalid correlationId", from: v1, frame: msg(ActionSDPOffer, "", offer, "no spaces"), corrID: "no spaces", code: awsapi.InvalidArgument},
		{name: "viewer to viewer", from: v1, frame: msg(ActionSDPOffer, "v2", offer, "vv"), corrID: "vv", code: awsapi.InvalidArgument},
		{name: "viewer to viewer uncorrelated", from: v1, frame: msg(ActionICECandidate, "v2", cand, "")},
		{name: "master without recipient", from: m, frame: msg(ActionSDPAnswer, "", answer, "r1"), corrID: "r1", code: awsapi.InvalidArgument},
		{name: "master to invalid recipient", from: m, frame: msg(ActionSDPAnswer, "not a client id", answer, "r2"), corrID: "r2", code: awsapi.InvalidArgument},
		{name: "master without recipient uncorrelated", from: m, frame: msg(ActionSDPAnswer, "", answer, "")},
		// A viewer not connected (yet) is no error: the message is queued.
		{name: "master to a viewer not connected", from: m, frame: msg(ActionSDPAnswer, "ghost", answer, "g1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.from.send(tc.frame)
			if tc.corrID != "" {
				tc.from.expectStatus(tc.corrID, tc.code)
			}
			tc.from.sync()
		})
	}

	// A payload of exactly 10 KB passes; nothing refused above was routed.
	v1.send(msg(ActionSDPOffer, "", maxOK, ""))
	expectFrom(t, m, ActionSDPOffer, "v1", maxOK)
	v2.send(msg(ActionSDPOffer, "", offer, ""))
	expectFrom(t, m, ActionSDPOffer, "v2", offer)
	m.send(msg(ActionSDPAnswer, "v2", answer, ""))
	expectFrom(t, v2, ActionSDPAnswer, "", answer)
	m.sync()
	v2.sync()

	// A frame over the frame limit ends that connection (1009) and no other.
	v3 := h.dial(arn, "v3")
	v3.send(`{"action":"SDP_OFFER","messagePayload":"` + strings.Repeat("A", DefaultMaxFrameBytes) + `"}`)
	v3.expectClosed(websocket.StatusMessageTooBig)
	v1.send(msg(ActionICECandidate, "", cand, ""))
	expectFrom(t, m, ActionICECandidate, "v1", cand)
	m.send(msg(ActionICECandidate, "v1", cand, ""))
	expectFrom(t, v1, ActionICECandidate, "", cand)
	m.sync()
	v1.sync()
	v2.sync()
}

// TestRateLimits floods one connection past 5 SDP and 20 ICE messages a
// second: the excess is refused with ClientLimitExceededException, another
// viewer on the channel is not slowed, and the budget refills with the
// (injected) clock.
func TestRateLimits(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("flood", 60)
	m := h.dial(arn, "")
	v1 := h.dial(arn, "v1")
	v2 := h.dial(arn, "v2")

	for range DefaultSDPRate {
		v1.send(msg(ActionSDPOffer, "", offer, ""))
		expectFrom(t, m, ActionSDPOffer, "v1", offer)
	}
	v1.send(msg(ActionSDPOffer, "", offer, "sdp6"))
	v1.expectStatus("sdp6", awsapi.ClientLimitExceeded)
	v1.send(msg(ActionSDPAnswer, "", answer, "")) // refused silently
	for range DefaultICERate {
		v1.send(msg(ActionICECandidate, "", cand, ""))
		expectFrom(t, m, ActionICECandidate, "v1", cand)
	}
	v1.send(msg(ActionICECandidate, "", cand, "ice21"))
	v1.expectStatus("ice21", awsapi.ClientLimitExceeded)
	m.sync()

	// v2 has its own budget.
	for range DefaultSDPRate {
		v2.send(msg(ActionSDPOffer, "", offer, ""))
		expectFrom(t, m, ActionSDPOffer, "v2", offer)
	}
	// So has the master.
	for range DefaultSDPRate {
		m.send(msg(ActionSDPAnswer, "v2", answer, ""))
		expectFrom(t, v2, ActionSDPAnswer, "", answer)
	}

	h.clock.Add(1e9) // one second
	v1.send(msg(ActionSDPOffer, "", offer, "again"))
	expectFrom(t, m, ActionSDPOffer, "v1", offer)
	v1.sync()
	m.sync()
}

// TestRateLimitsLifted: a negative rate is no limit.
func TestRateLimitsLifted(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.SDPRate, c.ICERate = -1, -1 })
	arn := h.channel("nolimit", 60)
	m := h.dial(arn, "")
	v := h.dial(arn, "v")
	for range 3 * DefaultICERate {
		v.send(msg(ActionSDPOffer, "", offer, "x"))
		expectFrom(t, m, ActionSDPOffer, "v", offer)
	}
	v.sync()
}
