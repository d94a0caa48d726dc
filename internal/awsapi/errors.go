// Package awsapi holds the AWS wire basics every openkvs API shares: the error
// vocabulary and its JSON envelope, JSON request decoding, request IDs,
// Signature Version 4 verification and ARNs.
package awsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code is an AWS error type name such as "ResourceNotFoundException". It is
// sent in the x-amzn-ErrorType header and the "__type" body member.
type Code string

// The error codes openkvs emits. The HTTP status of each is in codeStatus.
const (
	AccessDenied                    Code = "AccessDeniedException"
	AccountChannelLimitExceeded     Code = "AccountChannelLimitExceededException"
	AccountStreamLimitExceeded      Code = "AccountStreamLimitExceededException"
	ClientLimitExceeded             Code = "ClientLimitExceededException"
	ConnectionLimitExceeded         Code = "ConnectionLimitExceededException"
	DeviceStreamLimitExceeded       Code = "DeviceStreamLimitExceededException"
	IncompleteSignature             Code = "IncompleteSignatureException"
	InternalFailure                 Code = "InternalFailure"
	InvalidArgument                 Code = "InvalidArgumentException"
	InvalidClient                   Code = "InvalidClientException"
	InvalidCodecPrivateData         Code = "InvalidCodecPrivateDataException"
	InvalidDevice                   Code = "InvalidDeviceException"
	InvalidEndpoint                 Code = "InvalidEndpointException"
	InvalidMediaFrame               Code = "InvalidMediaFrameException"
	InvalidResourceFormat           Code = "InvalidResourceFormatException"
	InvalidSignature                Code = "InvalidSignatureException"
	MissingAuthenticationToken      Code = "MissingAuthenticationTokenException"
	MissingCodecPrivateData         Code = "MissingCodecPrivateDataException"
	NoDataRetention                 Code = "NoDataRetentionException"
	NotAuthorized                   Code = "NotAuthorizedException"
	ResourceInUse                   Code = "ResourceInUseException"
	ResourceNotFound                Code = "ResourceNotFoundException"
	SerializationError              Code = "SerializationException"
	SessionExpired                  Code = "SessionExpiredException"
	StreamEdgeConfigurationNotFound Code = "StreamEdgeConfigurationNotFoundException"
	TagsPerResourceExceededLimit    Code = "TagsPerResourceExceededLimitException"
	UnknownOperation                Code = "UnknownOperationException"
	UnrecognizedClient              Code = "UnrecognizedClientException"
	UnsupportedStreamMediaType      Code = "UnsupportedStreamMediaTypeException"
	VersionMismatch                 Code = "VersionMismatchException"
	RequestEntityTooLarge           Code = "RequestEntityTooLargeException"
	MethodNotAllowed                Code = "MethodNotAllowedException"
	SignatureDoesNotMatch           Code = "SignatureDoesNotMatch"
)

// codeStatus is the one table of HTTP statuses, taken from the KVS service
// models (control plane, media, archived media, signaling). Codes absent here
// are answered with 400.
var codeStatus = map[Code]int{
	AccessDenied:                    http.StatusUnauthorized, // 401 in the control plane model
	ClientLimitExceeded:             http.StatusBadRequest,
	ConnectionLimitExceeded:         http.StatusBadRequest,
	IncompleteSignature:             http.StatusForbidden,
	InternalFailure:                 http.StatusInternalServerError,
	InvalidSignature:                http.StatusForbidden,
	MissingAuthenticationToken:      http.StatusForbidden,
	NotAuthorized:                   http.StatusUnauthorized,
	ResourceNotFound:                http.StatusNotFound,
	StreamEdgeConfigurationNotFound: http.StatusNotFound,
	UnknownOperation:                http.StatusNotFound,
	UnrecognizedClient:              http.StatusForbidden,
	RequestEntityTooLarge:           http.StatusRequestEntityTooLarge,
	MethodNotAllowed:                http.StatusMethodNotAllowed,
	SignatureDoesNotMatch:           http.StatusForbidden,
}

// Status returns the HTTP status KVS uses for code.
func (c Code) Status() int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return http.StatusBadRequest
}

// Error is an error with an AWS error code. Handlers return it (possibly
// wrapped) and WriteError turns it into the wire envelope.
type Error struct {
	Code    Code
	Message string
	// StatusCode overrides Code.Status() when non-zero (for example
	// AccessDeniedException is 403 in the webrtc-storage API).
	StatusCode int
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error implements error.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Status is the HTTP status the error is answered with.
func (e *Error) Status() int {
	if e.StatusCode != 0 {
		return e.StatusCode
	}
	return e.Code.Status()
}

// AsError returns the *Error inside err, or an InternalFailure wrapping it
// for errors that carry no AWS code.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: InternalFailure, Message: "internal error"}
}

// IsCode reports whether err carries the AWS error code c.
func IsCode(err error, c Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == c
}

// errorBody is the restJson1 error envelope. Both message spellings are sent:
// the control plane model uses "Message", signaling and webrtc-storage use
// "message", and every SDK deserializer accepts either.
type errorBody struct {
	Type         string `json:"__type"`
	Message      string `json:"Message"`
	LowerMessage string `json:"message"`
}

// WriteError answers r with err in the AWS JSON error envelope: the status
// from the error table, the x-amzn-ErrorType header and a JSON body.
// Errors without an AWS code become a 500 InternalFailure, and their text is
// not leaked to the client.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := AsError(err)
	if e.Code == InternalFailure {
		if l := LoggerFrom(r.Context()); l != nil {
			l.Error("internal error", "op", OperationFrom(r.Context()), "err", err)
		}
	}
	SetErrorCode(r.Context(), e.Code)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("x-amzn-ErrorType", string(e.Code))
	w.WriteHeader(e.Status())
	_ = json.NewEncoder(w).Encode(errorBody{Type: string(e.Code), Message: e.Message, LowerMessage: e.Message})
}

// WriteJSON answers r with 200 and v encoded as JSON. A nil v writes "{}".
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if v == nil {
		_, _ = w.Write([]byte("{}"))
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}
