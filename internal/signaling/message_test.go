package signaling

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// Seeds of FuzzDecodeMessage: what the SDKs send and what they must not.
var messageSeeds = []string{
	// JS SDK (camel case; undefined members left out).
	`{"action":"SDP_OFFER","messagePayload":"eyJ0eXBlIjoib2ZmZXIiLCJzZHAiOiJ2PTAifQ=="}`,
	`{"action":"SDP_ANSWER","messagePayload":"eyJ0eXBlIjoiYW5zd2VyIn0=","recipientClientId":"viewer-1","correlationId":"1700000000000"}`,
	`{"action":"ICE_CANDIDATE","messagePayload":"eyJjYW5kaWRhdGUiOiJjYW5kaWRhdGU6MSJ9","recipientClientId":"v.1"}`,
	// C SDK (Pascal case, tabs and newlines, IceServerList on offers).
	"{\n\t\"action\": \"SDP_OFFER\",\n\t\"RecipientClientId\": \"\",\n\t\"MessagePayload\": \"eyJ0eXBlIjoib2ZmZXIifQ==\",\n\t\"CorrelationId\": \"c-1\",\n\t\"IceServerList\": [\n\t\t{\n\t\t\t\"Password\": \"p\",\n\t\t\t\"Ttl\": 300,\n\t\t\t\"Uris\": [\"turn:127.0.0.1:3478?transport=udp\"],\n\t\t\t\"Username\": \"u\"\n\t\t}\n\t]\n}",
	"{\n\t\"action\": \"ICE_CANDIDATE\",\n\t\"RecipientClientId\": \"ProducerMaster\",\n\t\"MessagePayload\": \"eyJjYW5kaWRhdGUiOiIifQ==\"\n}",
	// Refused.
	`{"action":"SDP_OFFER","messagePayload":"***"}`,
	`{"action":"BOGUS","messagePayload":"eA==","correlationId":"x"}`,
	`{"action":5,"correlationId":"t"}`,
	`{"action":"SDP_OFFER","messagePayload":"eA==","correlationId":"has space"}`,
	`{"action":"SDP_OFFER","messagePayload":"eA"}`,
	`[]`, `null`, `{`, ``, `"SDP_OFFER"`,
}

func TestDecodeMessage(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ClientMessage
		err  string // substring; "" for success
	}{
		{in: messageSeeds[1], want: ClientMessage{Action: ActionSDPAnswer, RecipientClientID: "viewer-1", MessagePayload: "eyJ0eXBlIjoiYW5zd2VyIn0=", CorrelationID: "1700000000000"}},
		{in: messageSeeds[3], want: ClientMessage{Action: ActionSDPOffer, MessagePayload: "eyJ0eXBlIjoib2ZmZXIifQ==", CorrelationID: "c-1"}},
		{in: messageSeeds[4], want: ClientMessage{Action: ActionICECandidate, RecipientClientID: "ProducerMaster", MessagePayload: "eyJjYW5kaWRhdGUiOiIifQ=="}},
		{in: `{"Action":"SDP_OFFER","MESSAGEPAYLOAD":"eA","correlationid":"k","unknown":{"deep":[1,{"x":null}]}}`, want: ClientMessage{Action: ActionSDPOffer, MessagePayload: "eA", CorrelationID: "k"}},
		{in: `{"action":"SDP_OFFER","messagePayload":"eA==","correlationId":""}`, want: ClientMessage{Action: ActionSDPOffer, MessagePayload: "eA=="}},
		{in: messageSeeds[5], err: "base64"},
		{in: messageSeeds[6], want: ClientMessage{Action: "BOGUS", MessagePayload: "eA==", CorrelationID: "x"}, err: "Unknown action"},
		{in: messageSeeds[7], want: ClientMessage{CorrelationID: "t"}, err: `"action" must be a string`},
		{in: messageSeeds[8], want: ClientMessage{Action: ActionSDPOffer, MessagePayload: "eA==", CorrelationID: "has space"}, err: "correlationId"},
		{in: `{"action":"SDP_OFFER","recipientClientId":"a/b","messagePayload":"eA=="}`, err: "recipientClientId"},
		{in: `{"action":"SDP_OFFER","messagePayload":"` + strings.Repeat("A", DefaultMaxMessageBytes+4) + `"}`, err: "limit is 10240"},
		{in: `[]`, err: "not a JSON object"},
		{in: `{"action":"ICE_CANDIDATE"}`, err: "no messagePayload"},
	} {
		got, err := DecodeMessage([]byte(tc.in), 0)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
		}
		if tc.err == "" || tc.want != (ClientMessage{}) {
			if got != tc.want {
				t.Errorf("%s: got %+v, want %+v", tc.in, got, tc.want)
			}
		}
	}
	// Limits: negative is none, positive is that.
	long := `{"action":"SDP_OFFER","messagePayload":"` + strings.Repeat("A", 40000) + `"}`
	if _, err := DecodeMessage([]byte(long), -1); err != nil {
		t.Errorf("no limit: %v", err)
	}
	if _, err := DecodeMessage([]byte(`{"action":"SDP_OFFER","messagePayload":"AAAAAAAA"}`), 4); err == nil {
		t.Error("limit 4 passed 8 bytes")
	}
}

// FuzzDecodeMessage checks that DecodeMessage never panics, fails only
// with a *MessageError that STATUS_RESPONSE can carry, and that what it
// accepts is routable: a known action, a base64 payload within the limit,
// ids of the allowed alphabet; and that it agrees with a plain JSON
// decode.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range messageSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"action":"SDP_OFFER","action":null,"ACTION":"ICE_CANDIDATE","messagePayload":"eA==","x":"\u0041"}`))
	f.Add([]byte(` { "Action" : "SDP_ANSWER" , "recipientclientid":"v" } `))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"action":"SDP_OFFER",}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The fast path agrees with encoding/json wherever it decides.
		if fast, ok := decodeFlat(data); ok {
			var slow wireClientMessage
			if err := json.Unmarshal(data, &slow); err != nil {
				t.Fatalf("decodeFlat accepted what encoding/json refuses (%v): %q", err, data)
			}
			if fast.message() != slow.message() || (fast.Action == nil) != (slow.Action == nil) || (fast.CorrelationID == nil) != (slow.CorrelationID == nil) {
				t.Fatalf("decodeFlat %+v, encoding/json %+v: %q", fast.message(), slow.message(), data)
			}
		}
		m, err := DecodeMessage(data, 0)
		if err != nil {
			var me *MessageError
			if !errors.As(err, &me) || me.Description == "" || me.Code.Status() != 400 {
				t.Fatalf("error %T %v", err, err)
			}
			if m.CorrelationID != "" && len(m.CorrelationID) > 256 {
				t.Fatalf("correlationId of %d bytes echoed", len(m.CorrelationID))
			}
			if !utf8.ValidString(string(statusFrame(m.CorrelationID, me))) {
				t.Fatal("status frame not UTF-8")
			}
			return
		}
		switch m.Action {
		case ActionSDPOffer, ActionSDPAnswer, ActionICECandidate:
		default:
			t.Fatalf("accepted action %q", m.Action)
		}
		if m.MessagePayload == "" || len(m.MessagePayload) > DefaultMaxMessageBytes || !validBase64(m.MessagePayload) {
			t.Fatalf("accepted payload %q", m.MessagePayload)
		}
		for _, id := range []string{m.RecipientClientID, m.CorrelationID} {
			if id != "" && !idPattern.MatchString(id) {
				t.Fatalf("accepted id %q", id)
			}
		}
		var plain map[string]json.RawMessage
		if json.Unmarshal(data, &plain) != nil {
			t.Fatalf("accepted what is not a JSON object: %q", data)
		}
	})
}

// The STATUS_RESPONSE of a refused message names the request's
// correlationId and KVS' error type.
func TestStatusFrameTruncates(t *testing.T) {
	e := msgErr(awsapi.InvalidArgument, strings.Repeat("d", 5000))
	var sm ServerMessage
	if err := json.Unmarshal(statusFrame("c", e), &sm); err != nil {
		t.Fatal(err)
	}
	if len(sm.StatusResponse.Description) != 1024 {
		t.Errorf("description of %d bytes", len(sm.StatusResponse.Description))
	}
}

// FuzzValidBase64 checks validBase64 against the decoders it stands for.
func FuzzValidBase64(f *testing.F) {
	for _, s := range []string{"", "eA==", "eA", "eA=", "eHk=", "eHl6", "e===", "eA==eA==", "e", "++//", "a-_b", "eA\n=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := base64.StdEncoding
		if len(s)%4 != 0 {
			enc = base64.RawStdEncoding
		}
		_, err := enc.DecodeString(s)
		want := err == nil && !strings.ContainsAny(s, "\r\n")
		if got := validBase64(s); got != want && s != "" {
			t.Fatalf("validBase64(%q) = %v, decoder says %v", s, got, want)
		}
	})
}

// TestEncodeMatchesJSON: the direct encoding of routed messages is what
// encoding/json writes.
func TestEncodeMatchesJSON(t *testing.T) {
	for _, m := range []ServerMessage{
		{SenderClientID: "v-1.x_", MessageType: ActionSDPOffer, MessagePayload: "eyJ0eXBlIjoib2ZmZXIifQ=="},
		{MessageType: ActionICECandidate, MessagePayload: "eA"},
		{MessageType: TypeGoAway},
		{SenderClientID: "<&>", MessageType: ActionSDPOffer, MessagePayload: "\"\\\u00e9\n"},
		{MessageType: TypeStatusResponse, StatusResponse: &StatusResponse{CorrelationID: "c", ErrorType: "E", StatusCode: "400", Description: "<d>"}},
	} {
		want, _ := json.Marshal(&m)
		if got := m.encode(); string(got) != string(want) {
			t.Errorf("encode = %s, json = %s", got, want)
		}
	}
}
