package signaling

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// Actions a client sends and message types the service sends, as named by
// the KVS WebRTC developer guide ("WebSocket APIs").
const (
	ActionSDPOffer     = "SDP_OFFER"
	ActionSDPAnswer    = "SDP_ANSWER"
	ActionICECandidate = "ICE_CANDIDATE"

	TypeGoAway             = "GO_AWAY"
	TypeReconnectICEServer = "RECONNECT_ICE_SERVER"
	TypeStatusResponse     = "STATUS_RESPONSE"
)

// DefaultMaxMessageBytes is the largest messagePayload KVS accepts: 10 KB
// of base64 text.
const DefaultMaxMessageBytes = 10 * 1024

// idPattern is the pattern of client ids and correlation ids (1..256).
var idPattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,256}$`)

// ClientMessage is one message a master or viewer sends over the WebSocket:
//
//	{"action":"SDP_OFFER","recipientClientId":"v1","messagePayload":"<base64>","correlationId":"c1"}
//
// Keys are matched case-insensitively: the JavaScript SDK sends lower camel
// case, the C SDK "RecipientClientId", "MessagePayload" and
// "CorrelationId". Unknown keys (the C SDK's "IceServerList") are ignored.
type ClientMessage struct {
	Action            string `json:"action"`
	RecipientClientID string `json:"recipientClientId,omitempty"`
	MessagePayload    string `json:"messagePayload"`
	CorrelationID     string `json:"correlationId,omitempty"`
}

// wireClientMessage decodes a ClientMessage leniently: absent and null
// members are both empty. encoding/json matches member names to the tags
// without regard to case, which is what the SDKs need.
type wireClientMessage struct {
	Action            *string `json:"action"`
	RecipientClientID *string `json:"recipientClientId"`
	MessagePayload    *string `json:"messagePayload"`
	CorrelationID     *string `json:"correlationId"`
}

// MessageError is why a client message was refused: the errorType and
// statusCode of the STATUS_RESPONSE the service answers with when the
// client sent a correlationId.
type MessageError struct {
	Code        awsapi.Code
	Description string
}

// Error implements error.
func (e *MessageError) Error() string { return string(e.Code) + ": " + e.Description }

func msgErr(code awsapi.Code, desc string) *MessageError {
	return &MessageError{Code: code, Description: desc}
}

// DecodeMessage parses and validates one client message. maxPayload bounds
// the length of messagePayload (base64 text); 0 means
// DefaultMaxMessageBytes and a negative value no limit.
//
// On failure it returns a *MessageError and, as far as it could be read,
// the message (so that the caller can answer the correlationId).
func DecodeMessage(data []byte, maxPayload int) (ClientMessage, error) {
	w, ok := decodeFlat(data)
	if !ok {
		w = wireClientMessage{}
		if err := json.Unmarshal(data, &w); err != nil {
			return decodeError(&w, err)
		}
	}
	m := w.message()
	// An empty correlationId is no correlationId (as the JS SDK treats it).
	if m.CorrelationID != "" && !idPattern.MatchString(m.CorrelationID) {
		// Answer with the id truncated so the client can still match it.
		if len(m.CorrelationID) > 256 {
			m.CorrelationID = m.CorrelationID[:256]
		}
		return m, msgErr(awsapi.InvalidArgument, "correlationId must be 1 to 256 characters of [a-zA-Z0-9_.-].")
	}
	switch m.Action {
	case ActionSDPOffer, ActionSDPAnswer, ActionICECandidate:
	case "":
		return m, msgErr(awsapi.InvalidArgument, "The message has no action.")
	default:
		return m, msgErr(awsapi.InvalidArgument, "Unknown action "+strconv.Quote(truncate(m.Action, 64))+"; expected SDP_OFFER, SDP_ANSWER or ICE_CANDIDATE.")
	}
	if m.RecipientClientID != "" && !idPattern.MatchString(m.RecipientClientID) {
		return m, msgErr(awsapi.InvalidArgument, "recipientClientId must be 1 to 256 characters of [a-zA-Z0-9_.-].")
	}
	if maxPayload == 0 {
		maxPayload = DefaultMaxMessageBytes
	}
	switch {
	case m.MessagePayload == "":
		return m, msgErr(awsapi.InvalidArgument, "The message has no messagePayload.")
	case maxPayload > 0 && len(m.MessagePayload) > maxPayload:
		return m, msgErr(awsapi.InvalidArgument, "messagePayload is "+strconv.Itoa(len(m.MessagePayload))+" bytes; the limit is "+strconv.Itoa(maxPayload)+".")
	case !validBase64(m.MessagePayload):
		return m, msgErr(awsapi.InvalidArgument, "messagePayload is not valid base64.")
	}
	return m, nil
}

// decodeError is DecodeMessage's answer to a document encoding/json
// refused.
func decodeError(w *wireClientMessage, err error) (ClientMessage, error) {
	var m ClientMessage
	// A member of the wrong type still leaves the others decoded.
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		m = w.message()
		if !idPattern.MatchString(m.CorrelationID) {
			m.CorrelationID = ""
		}
		return m, msgErr(awsapi.InvalidArgument, "Member "+strconv.Quote(te.Field)+" must be a string.")
	}
	return m, msgErr(awsapi.InvalidArgument, "The message is not a JSON object.")
}

func (w *wireClientMessage) message() ClientMessage {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return ClientMessage{
		Action:            str(w.Action),
		RecipientClientID: str(w.RecipientClientID),
		MessagePayload:    str(w.MessagePayload),
		CorrelationID:     str(w.CorrelationID),
	}
}

// validBase64 accepts the standard alphabet, padded (what btoa and the C
// SDK produce) or unpadded, as base64.StdEncoding and RawStdEncoding
// decode it (but without decoding).
func validBase64(s string) bool {
	n := len(s)
	if n%4 == 0 && n > 0 && s[n-1] == '=' {
		n--
		if s[n-1] == '=' {
			n--
		}
	} else if n%4 == 1 {
		return false
	}
	for i := 0; i < n; i++ {
		if !base64Alphabet[s[i]] {
			return false
		}
	}
	return true
}

// base64Alphabet marks the characters of the standard base64 alphabet.
var base64Alphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = true
	}
	return t
}()

// ServerMessage is one message the service sends to a client:
//
//	{"senderClientId":"v1","messageType":"SDP_OFFER","messagePayload":"<base64>"}
//	{"messageType":"STATUS_RESPONSE","statusResponse":{"correlationId":"c1","errorType":"InvalidArgumentException","statusCode":"400","description":"..."}}
//
// senderClientId is set on messages from a viewer (the master answers to
// it) and left out on messages from the master.
type ServerMessage struct {
	SenderClientID string          `json:"senderClientId,omitempty"`
	MessageType    string          `json:"messageType"`
	MessagePayload string          `json:"messagePayload,omitempty"`
	StatusResponse *StatusResponse `json:"statusResponse,omitempty"`
}

// StatusResponse reports a failed client message. StatusCode is the HTTP
// status as a decimal string.
type StatusResponse struct {
	CorrelationID string `json:"correlationId"`
	ErrorType     string `json:"errorType"`
	StatusCode    string `json:"statusCode"`
	Description   string `json:"description"`
}

// encode marshals m as encoding/json does. Routed messages (ids of
// [a-zA-Z0-9_.-], base64 payloads) are written directly: it is the hot
// path, and a 4 KB SDP need not go through reflection and escaping.
func (m *ServerMessage) encode() []byte {
	if m.StatusResponse == nil && plainJSON(m.SenderClientID) && plainJSON(m.MessageType) && plainJSON(m.MessagePayload) {
		b := make([]byte, 0, len(`{"senderClientId":"","messageType":"","messagePayload":""}`)+len(m.SenderClientID)+len(m.MessageType)+len(m.MessagePayload))
		b = append(b, '{')
		if m.SenderClientID != "" {
			b = append(b, `"senderClientId":"`...)
			b = append(b, m.SenderClientID...)
			b = append(b, `",`...)
		}
		b = append(b, `"messageType":"`...)
		b = append(b, m.MessageType...)
		b = append(b, '"')
		if m.MessagePayload != "" {
			b = append(b, `,"messagePayload":"`...)
			b = append(b, m.MessagePayload...)
			b = append(b, '"')
		}
		return append(b, '}')
	}
	b, _ := json.Marshal(m)
	return b
}

// plainJSON reports whether s needs no escaping in a JSON string (as
// encoding/json escapes: quotes, backslashes, control characters, <, >, &
// and non-ASCII are left to it).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainJSONByte[s[i]] {
			return false
		}
	}
	return true
}

// plainJSONByte marks the bytes plainJSON lets through.
var plainJSONByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// statusFrame is the STATUS_RESPONSE for err answering correlationID.
func statusFrame(correlationID string, err *MessageError) []byte {
	return (&ServerMessage{MessageType: TypeStatusResponse, StatusResponse: &StatusResponse{
		CorrelationID: correlationID,
		ErrorType:     string(err.Code),
		StatusCode:    strconv.Itoa(err.Code.Status()),
		Description:   truncate(err.Description, 1024),
	}}).encode()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
