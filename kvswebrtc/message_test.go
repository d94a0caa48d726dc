package kvswebrtc

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/pion/webrtc/v4"
)

func TestDecodeMessage(t *testing.T) {
	offer := `{"type":"offer","sdp":"v=0\r\n"}`
	b64 := base64.StdEncoding.EncodeToString([]byte(offer))
	raw := base64.RawStdEncoding.EncodeToString([]byte(offer))
	tests := []struct {
		name    string
		in      string
		want    Message
		wantErr bool
	}{
		{name: "js-offer", in: `{"senderClientId":"v1","messageType":"SDP_OFFER","messagePayload":"` + b64 + `"}`,
			want: Message{Type: SDPOffer, SenderClientID: "v1", Payload: []byte(offer)}},
		{name: "pascal-case-unpadded-unknown-keys", in: `{"SenderClientId":"v1","MessageType":"SDP_OFFER","MessagePayload":"` + raw + `","IceServerList":[{}]}`,
			want: Message{Type: SDPOffer, SenderClientID: "v1", Payload: []byte(offer)}},
		{name: "go-away", in: `{"messageType":"GO_AWAY"}`, want: Message{Type: GoAway}},
		{name: "reconnect-ice", in: `{"messageType":"RECONNECT_ICE_SERVER","senderClientId":""}`, want: Message{Type: ReconnectICEServer}},
		{name: "status-string-code", in: `{"messageType":"STATUS_RESPONSE","statusResponse":{"correlationId":"c1","errorType":"InvalidArgumentException","statusCode":"400","description":"bad"}}`,
			want: Message{Type: StatusResponseType, Status: &StatusResponse{CorrelationID: "c1", ErrorType: "InvalidArgumentException", StatusCode: "400", Description: "bad"}}},
		{name: "status-number-code", in: `{"messageType":"STATUS_RESPONSE","statusResponse":{"correlationId":"c2","statusCode":429}}`,
			want: Message{Type: StatusResponseType, Status: &StatusResponse{CorrelationID: "c2", StatusCode: "429"}}},
		{name: "not-json", in: `{"messageType":`, wantErr: true},
		{name: "no-type", in: `{"messagePayload":"` + b64 + `"}`, wantErr: true},
		{name: "bad-base64", in: `{"messageType":"SDP_OFFER","messagePayload":"!!!"}`, wantErr: true},
		{name: "offer-without-payload", in: `{"messageType":"SDP_OFFER"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeMessage([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrBadMessage) {
					t.Fatalf("err = %v, want ErrBadMessage", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tt.want.Type || got.SenderClientID != tt.want.SenderClientID || string(got.Payload) != string(tt.want.Payload) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if (got.Status == nil) != (tt.want.Status == nil) || got.Status != nil && *got.Status != *tt.want.Status {
				t.Errorf("status %+v, want %+v", got.Status, tt.want.Status)
			}
		})
	}
}

func TestMessagePayloads(t *testing.T) {
	sd := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: "v=0\r\na=x\r\n"}
	var js map[string]string
	if err := json.Unmarshal(sdpPayload(sd), &js); err != nil || js["type"] != "answer" || js["sdp"] != sd.SDP {
		t.Errorf("sdp payload %s (%v): want browser form {type, sdp}", sdpPayload(sd), err)
	}
	m := Message{Type: SDPAnswer, Payload: sdpPayload(sd)}
	if got, err := m.SessionDescription(); err != nil || got != sd {
		t.Errorf("SessionDescription = %+v, %v", got, err)
	}
	mid, idx := "0", uint16(0)
	c := webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", SDPMid: &mid, SDPMLineIndex: &idx}
	var jc map[string]any
	if err := json.Unmarshal(candidatePayload(c), &jc); err != nil || jc["candidate"] != c.Candidate || jc["sdpMid"] != "0" || jc["sdpMLineIndex"] != float64(0) {
		t.Errorf("candidate payload %s (%v): want RTCIceCandidate.toJSON form", candidatePayload(c), err)
	}
	m = Message{Type: ICECandidate, Payload: candidatePayload(c)}
	if got, err := m.ICECandidateInit(); err != nil || got.Candidate != c.Candidate || *got.SDPMid != mid {
		t.Errorf("ICECandidateInit = %+v, %v", got, err)
	}
	if _, err := (Message{Payload: []byte(`{"type":"offer"}`)}).SessionDescription(); !errors.Is(err, ErrBadMessage) {
		t.Errorf("session description without sdp: %v", err)
	}
}

func TestOutgoingMessageEncode(t *testing.T) {
	frame, err := OutgoingMessage{Action: SDPAnswer, RecipientClientID: "v1", Payload: []byte(`{"type":"answer"}`), CorrelationID: "c9"}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var w map[string]string
	if err := json.Unmarshal(frame, &w); err != nil {
		t.Fatal(err)
	}
	p, _ := base64.StdEncoding.DecodeString(w["messagePayload"])
	if w["action"] != "SDP_ANSWER" || w["recipientClientId"] != "v1" || w["correlationId"] != "c9" || string(p) != `{"type":"answer"}` {
		t.Errorf("frame %s", frame)
	}
	frame, _ = OutgoingMessage{Action: ICECandidate, Payload: []byte("{}")}.Encode()
	w = nil
	if err := json.Unmarshal(frame, &w); err != nil {
		t.Fatal(err)
	}
	if _, ok := w["recipientClientId"]; ok {
		t.Errorf("viewer frame names a recipient: %s", frame)
	}
	if _, err := (OutgoingMessage{Action: GoAway}).Encode(); err == nil {
		t.Error("GO_AWAY encoded as a client action")
	}
}

// FuzzDecodeMessage: any frame decodes or fails with ErrBadMessage, and a
// decoded SDP/ICE message always has a payload.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"senderClientId":"v1","messageType":"SDP_OFFER","messagePayload":"e30="}`))
	f.Add([]byte(`{"messageType":"STATUS_RESPONSE","statusResponse":{"statusCode":400}}`))
	f.Add([]byte(`{"MessageType":"ICE_CANDIDATE","MessagePayload":"e30"}`))
	f.Add([]byte(`{"messageType":"GO_AWAY"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			return
		}
		if m.Type == "" {
			t.Fatal("decoded a message without type")
		}
		switch m.Type {
		case SDPOffer, SDPAnswer, ICECandidate:
			if len(m.Payload) == 0 {
				t.Fatalf("%s without payload", m.Type)
			}
		}
	})
}
