package kvswebrtc

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// MessageType names a signaling message: the action a client sends or the
// messageType the service sends.
type MessageType string

// Message types of the KVS signaling protocol.
const (
	SDPOffer           MessageType = "SDP_OFFER"
	SDPAnswer          MessageType = "SDP_ANSWER"
	ICECandidate       MessageType = "ICE_CANDIDATE"
	GoAway             MessageType = "GO_AWAY"
	ReconnectICEServer MessageType = "RECONNECT_ICE_SERVER"
	StatusResponseType MessageType = "STATUS_RESPONSE"
)

// ErrBadMessage is wrapped by DecodeMessage's errors.
var ErrBadMessage = errors.New("kvswebrtc: bad signaling message")

// Message is one message received from the signaling service.
type Message struct {
	// Type is the messageType.
	Type MessageType
	// SenderClientID is the viewer that sent the message (on messages the
	// master receives); empty on messages from the master.
	SenderClientID string
	// Payload is the decoded messagePayload: a JSON session description
	// or ICE candidate. Empty for GO_AWAY and the like.
	Payload []byte
	// Status is set on STATUS_RESPONSE messages.
	Status *StatusResponse
}

// StatusResponse is the service's report that a message sent with a
// correlation id failed.
type StatusResponse struct {
	CorrelationID string `json:"correlationId"`
	ErrorType     string `json:"errorType"`
	StatusCode    string `json:"statusCode"`
	Description   string `json:"description"`
}

// Error implements error, so a StatusResponse can be returned as one.
func (s *StatusResponse) Error() string {
	return fmt.Sprintf("kvswebrtc: message %s failed: %s %s: %s", s.CorrelationID, s.StatusCode, s.ErrorType, s.Description)
}

// wireServerMessage is the JSON the service sends. encoding/json matches
// names case-insensitively, so Pascal-case senders are read too.
type wireServerMessage struct {
	SenderClientID string          `json:"senderClientId"`
	MessageType    string          `json:"messageType"`
	MessagePayload string          `json:"messagePayload"`
	StatusResponse *wireStatusResp `json:"statusResponse"`
}

// wireStatusResp accepts statusCode as a string or a number.
type wireStatusResp struct {
	CorrelationID string          `json:"correlationId"`
	ErrorType     string          `json:"errorType"`
	StatusCode    json.RawMessage `json:"statusCode"`
	Description   string          `json:"description"`
}

// DecodeMessage parses one text frame from the service. Unknown keys are
// ignored; messagePayload is base64-decoded (padded or not).
func DecodeMessage(data []byte) (Message, error) {
	var w wireServerMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	m := Message{Type: MessageType(w.MessageType), SenderClientID: w.SenderClientID}
	if m.Type == "" {
		return Message{}, fmt.Errorf("%w: no messageType", ErrBadMessage)
	}
	if w.MessagePayload != "" {
		p, err := decodeBase64(w.MessagePayload)
		if err != nil {
			return Message{}, fmt.Errorf("%w: messagePayload: %w", ErrBadMessage, err)
		}
		m.Payload = p
	}
	if w.StatusResponse != nil {
		s := &StatusResponse{CorrelationID: w.StatusResponse.CorrelationID, ErrorType: w.StatusResponse.ErrorType, Description: w.StatusResponse.Description}
		code := strings.TrimSpace(string(w.StatusResponse.StatusCode))
		if unq, err := unquote(code); err == nil {
			code = unq
		}
		s.StatusCode = code
		m.Status = s
	}
	switch m.Type {
	case SDPOffer, SDPAnswer, ICECandidate:
		if len(m.Payload) == 0 {
			return Message{}, fmt.Errorf("%w: %s without messagePayload", ErrBadMessage, m.Type)
		}
	}
	return m, nil
}

func unquote(s string) (string, error) {
	var v string
	err := json.Unmarshal([]byte(s), &v)
	return v, err
}

func decodeBase64(s string) ([]byte, error) {
	if len(s)%4 == 0 {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// OutgoingMessage is one message a client sends to the service.
type OutgoingMessage struct {
	// Action is SDPOffer, SDPAnswer or ICECandidate.
	Action MessageType
	// RecipientClientID addresses a viewer; a master must set it, a
	// viewer leaves it empty (its messages always go to the master).
	RecipientClientID string
	// Payload is the JSON session description or candidate; it is sent
	// base64-encoded.
	Payload []byte
	// CorrelationID, when set, asks the service for a STATUS_RESPONSE if
	// the message fails.
	CorrelationID string
}

type wireClientMessage struct {
	Action            string `json:"action"`
	RecipientClientID string `json:"recipientClientId,omitempty"`
	MessagePayload    string `json:"messagePayload"`
	CorrelationID     string `json:"correlationId,omitempty"`
}

// Encode returns the JSON text frame for m.
func (m OutgoingMessage) Encode() ([]byte, error) {
	switch m.Action {
	case SDPOffer, SDPAnswer, ICECandidate:
	default:
		return nil, fmt.Errorf("kvswebrtc: cannot send action %q", m.Action)
	}
	return json.Marshal(wireClientMessage{
		Action:            string(m.Action),
		RecipientClientID: m.RecipientClientID,
		MessagePayload:    base64.StdEncoding.EncodeToString(m.Payload),
		CorrelationID:     m.CorrelationID,
	})
}

// SessionDescription decodes an SDP_OFFER or SDP_ANSWER payload.
func (m Message) SessionDescription() (webrtc.SessionDescription, error) {
	var sd webrtc.SessionDescription
	if err := json.Unmarshal(m.Payload, &sd); err != nil {
		return sd, fmt.Errorf("%w: session description: %w", ErrBadMessage, err)
	}
	if sd.SDP == "" {
		return sd, fmt.Errorf("%w: session description without sdp", ErrBadMessage)
	}
	return sd, nil
}

// ICECandidateInit decodes an ICE_CANDIDATE payload.
func (m Message) ICECandidateInit() (webrtc.ICECandidateInit, error) {
	var c webrtc.ICECandidateInit
	if err := json.Unmarshal(m.Payload, &c); err != nil {
		return c, fmt.Errorf("%w: candidate: %w", ErrBadMessage, err)
	}
	return c, nil
}

// sdpPayload is the JSON the browsers send: {"type":"offer","sdp":"..."}.
func sdpPayload(sd webrtc.SessionDescription) []byte {
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		SDP  string `json:"sdp"`
	}{sd.Type.String(), sd.SDP})
	return b
}

// candidatePayload is the JSON of RTCIceCandidate.toJSON().
func candidatePayload(c webrtc.ICECandidateInit) []byte {
	b, _ := json.Marshal(c)
	return b
}
