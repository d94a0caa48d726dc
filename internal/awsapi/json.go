package awsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
)

// MaxJSONBody is the largest JSON request body DecodeJSON reads.
const MaxJSONBody = 1 << 20

// DecodeJSON reads r's body as one JSON object into v. An empty body decodes
// as {}. Unknown members are ignored, as AWS services do. Malformed JSON or a
// member of the wrong type is a SerializationException; an oversized body is
// an InvalidArgumentException.
func DecodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxJSONBody+1))
	if err != nil {
		return Errorf(SerializationError, "cannot read request body: %v", err)
	}
	return DecodeJSONBytes(body, v)
}

// DecodeJSONBytes is DecodeJSON on a body already read.
func DecodeJSONBytes(body []byte, v any) error {
	if len(body) > MaxJSONBody {
		return Errorf(InvalidArgument, "request body larger than %d bytes", MaxJSONBody)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if body[0] != '{' {
		return Errorf(SerializationError, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Errorf(SerializationError, "member %s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return Errorf(SerializationError, "malformed JSON request body: %v", err)
	}
	if dec.More() {
		return Errorf(SerializationError, "request body holds more than one JSON value")
	}
	return nil
}

// Timestamp is a point in time on the wire as restJson1 sends it: epoch
// seconds as a JSON number, with a fractional part for sub-second precision.
// The zero Timestamp encodes as null.
type Timestamp struct{ time.Time }

// TimestampOf returns t as a Timestamp.
func TimestampOf(t time.Time) *Timestamp { return &Timestamp{t} }

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	ms := t.UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

// UnmarshalJSON implements json.Unmarshaler. It accepts epoch seconds as a
// number (the SDKs' encoding) and, leniently, as a numeric string or an
// RFC 3339 string.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		t.Time = time.Time{}
		return nil
	}
	if len(s) >= 2 && s[0] == '"' {
		u, err := strconv.Unquote(s)
		if err != nil {
			return fmt.Errorf("timestamp: %w", err)
		}
		if tt, err := time.Parse(time.RFC3339Nano, u); err == nil {
			t.Time = tt
			return nil
		}
		s = u
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return fmt.Errorf("timestamp %q is not epoch seconds", s)
	}
	sec, frac := math.Modf(f)
	t.Time = time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC()
	return nil
}
