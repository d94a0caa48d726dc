package producer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// EventType is the kind of a PutMedia ack (kvs-api.md §3.2).
type EventType string

// The PutMedia ack events, in the order the service sends them for one
// fragment (IDLE is a keep-alive without a fragment).
const (
	EventBuffering EventType = "BUFFERING"
	EventReceived  EventType = "RECEIVED"
	EventPersisted EventType = "PERSISTED"
	EventError     EventType = "ERROR"
	EventIdle      EventType = "IDLE"
)

// Ack is one PutMedia acknowledgement, e.g.
// {"EventType":"PERSISTED","FragmentTimecode":1700000000123,"FragmentNumber":"9134..."}.
type Ack struct {
	EventType EventType
	// FragmentTimecode is the fragment's Cluster timecode in ms as sent;
	// HasTimecode reports whether the ack carried one.
	FragmentTimecode int64
	HasTimecode      bool
	// FragmentNumber is the service's decimal fragment number, "" if none.
	FragmentNumber string
	// ErrorID and ErrorCode are set on ERROR acks (4000-4012, 45xx, 5000,
	// 5001).
	ErrorID   int
	ErrorCode string
}

// maxAckLine bounds one ack line; KVS acks are under 200 bytes.
const maxAckLine = 4096

var errBadAck = errors.New("producer: malformed ack")

// parseAck parses one line of the ack stream. Like the KVS producer SDK's
// parser it ignores unknown keys, accepts numbers written as strings and
// rejects an ERROR without a valid ErrorId.
func parseAck(line []byte) (Ack, error) {
	line = bytes.TrimSpace(line)
	if len(line) > maxAckLine {
		return Ack{}, fmt.Errorf("%w: %d-byte line", errBadAck, len(line))
	}
	var raw struct {
		EventType        string
		FragmentTimecode json.RawMessage
		FragmentNumber   json.RawMessage
		ErrorID          json.RawMessage `json:"ErrorId"`
		ErrorCode        string
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return Ack{}, fmt.Errorf("%w: %v", errBadAck, err)
	}
	a := Ack{EventType: EventType(raw.EventType), ErrorCode: raw.ErrorCode}
	switch a.EventType {
	case EventBuffering, EventReceived, EventPersisted, EventError, EventIdle:
	default:
		return Ack{}, fmt.Errorf("%w: EventType %q", errBadAck, truncate(raw.EventType))
	}
	if s, ok, err := scalar(raw.FragmentTimecode); err != nil {
		return Ack{}, fmt.Errorf("%w: FragmentTimecode: %v", errBadAck, err)
	} else if ok {
		tc, err := strconv.ParseInt(s, 10, 64)
		if err != nil || tc < 0 {
			return Ack{}, fmt.Errorf("%w: FragmentTimecode %q", errBadAck, truncate(s))
		}
		a.FragmentTimecode, a.HasTimecode = tc, true
	}
	if s, ok, err := scalar(raw.FragmentNumber); err != nil {
		return Ack{}, fmt.Errorf("%w: FragmentNumber: %v", errBadAck, err)
	} else if ok {
		if s == "" || len(s) > 128 || !allDigits(s) {
			return Ack{}, fmt.Errorf("%w: FragmentNumber %q", errBadAck, truncate(s))
		}
		a.FragmentNumber = s
	}
	s, ok, err := scalar(raw.ErrorID)
	if err != nil {
		return Ack{}, fmt.Errorf("%w: ErrorId: %v", errBadAck, err)
	}
	if ok {
		id, err := strconv.Atoi(s)
		if err != nil || id <= 0 {
			return Ack{}, fmt.Errorf("%w: ErrorId %q", errBadAck, truncate(s))
		}
		a.ErrorID = id
	}
	if a.EventType == EventError && a.ErrorID == 0 {
		return Ack{}, fmt.Errorf("%w: ERROR without ErrorId", errBadAck)
	}
	return a, nil
}

// scalar returns a JSON number or string value as text; ok is false for
// an absent or null value.
func scalar(m json.RawMessage) (string, bool, error) {
	if len(m) == 0 || string(m) == "null" {
		return "", false, nil
	}
	if m[0] == '"' {
		var s string
		if err := json.Unmarshal(m, &s); err != nil {
			return "", false, err
		}
		return s, true, nil
	}
	if m[0] == '-' || (m[0] >= '0' && m[0] <= '9') {
		return string(m), true, nil
	}
	return "", false, fmt.Errorf("not a number or string")
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// AckError is an ERROR ack, as an error.
type AckError struct {
	ID               int
	Code             string
	FragmentTimecode int64
}

// Error implements error.
func (e *AckError) Error() string {
	return fmt.Sprintf("PutMedia ERROR %d %s (fragment timecode %d)", e.ID, e.Code, e.FragmentTimecode)
}

// ackClass says what an ERROR ack means for the producer.
type ackClass int

const (
	// classRetry: the service failed; resend the fragment.
	classRetry ackClass = iota
	// classDrop: the fragment itself is bad; drop it.
	classDrop
	// classReconnect: the connection ended; resend on a new one.
	classReconnect
	// classFatal: the stream cannot take data; stop.
	classFatal
)

// classify maps an ErrorId (kvs-api.md §3.2) to what to do about it.
func classify(id int) ackClass {
	switch {
	case id == 4001, id == 4002, id == 4004, id == 4006, id == 4007, id == 4009, id == 4010, id == 4011:
		return classDrop
	case id == 4003:
		return classReconnect
	case id == 4005, id == 4012, id == 4507, id >= 4500 && id < 4507:
		return classFatal
	}
	return classRetry // 4000, 4008 (stream not active yet), 5000, 5001, unknown
}
