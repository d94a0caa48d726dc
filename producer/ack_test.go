package producer

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
)

func TestParseAck(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Ack
		bad  bool
	}{
		{in: `{"EventType":"PERSISTED","FragmentTimecode":1700000000123,"FragmentNumber":"91343852333181432392682062607743920146264440066"}`,
			want: Ack{EventType: EventPersisted, FragmentTimecode: 1700000000123, HasTimecode: true, FragmentNumber: "91343852333181432392682062607743920146264440066"}},
		{in: `{"EventType":"BUFFERING","FragmentTimecode":"12","FragmentNumber":"7"}` + "\r",
			want: Ack{EventType: EventBuffering, FragmentTimecode: 12, HasTimecode: true, FragmentNumber: "7"}},
		{in: `{"EventType":"IDLE"}`, want: Ack{EventType: EventIdle}},
		{in: ` {"EventType":"ERROR","FragmentTimecode":5,"ErrorId":4004,"ErrorCode":"FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS","Extra":{"a":[1,2]}} `,
			want: Ack{EventType: EventError, FragmentTimecode: 5, HasTimecode: true, ErrorID: 4004, ErrorCode: "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS"}},
		{in: `{"EventType":"ERROR","ErrorId":"5000"}`, want: Ack{EventType: EventError, ErrorID: 5000}},
		{in: `{"EventType":"RECEIVED","FragmentTimecode":null}`, want: Ack{EventType: EventReceived}},
		{in: `{"EventType":"ERROR","FragmentTimecode":5}`, bad: true},
		{in: `{"EventType":"ERROR","ErrorId":0}`, bad: true},
		{in: `{"EventType":"PERSISTED","FragmentTimecode":-1}`, bad: true},
		{in: `{"EventType":"PERSISTED","FragmentTimecode":1.5}`, bad: true},
		{in: `{"EventType":"PERSISTED","FragmentTimecode":true}`, bad: true},
		{in: `{"EventType":"PERSISTED","FragmentNumber":"12a"}`, bad: true},
		{in: `{"EventType":"DONE"}`, bad: true},
		{in: `{"FragmentTimecode":1}`, bad: true},
		{in: `{"EventType":"IDLE"`, bad: true},
		{in: `[]`, bad: true},
		{in: ``, bad: true},
	} {
		got, err := parseAck([]byte(tt.in))
		if tt.bad {
			if !errors.Is(err, errBadAck) {
				t.Errorf("parseAck(%s) = %+v, %v; want errBadAck", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseAck(%s) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// appendAckJSON encodes a as the service does, for the round-trip check.
func appendAckJSON(dst []byte, a Ack) []byte {
	dst = append(dst, `{"EventType":`...)
	dst = appendJSONString(dst, string(a.EventType))
	if a.HasTimecode {
		dst = append(dst, `,"FragmentTimecode":`...)
		dst = strconv.AppendInt(dst, a.FragmentTimecode, 10)
	}
	if a.FragmentNumber != "" {
		dst = append(dst, `,"FragmentNumber":"`...)
		dst = append(dst, a.FragmentNumber...)
		dst = append(dst, '"')
	}
	if a.ErrorID != 0 {
		dst = append(dst, `,"ErrorId":`...)
		dst = strconv.AppendInt(dst, int64(a.ErrorID), 10)
	}
	if a.ErrorCode != "" {
		dst = append(dst, `,"ErrorCode":`...)
		dst = appendJSONString(dst, a.ErrorCode)
	}
	return append(dst, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

func FuzzAckParser(f *testing.F) {
	for _, s := range []string{
		`{"EventType":"PERSISTED","FragmentTimecode":1700000000123,"FragmentNumber":"91343852333181432392682062607743920146264440066"}`,
		`{"EventType":"BUFFERING","FragmentTimecode":0,"FragmentNumber":"1"}`,
		`{"EventType":"RECEIVED","FragmentTimecode":"42","FragmentNumber":"2"}`,
		`{"EventType":"ERROR","FragmentTimecode":5,"ErrorId":4004,"ErrorCode":"FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS"}`,
		`{"EventType":"ERROR","ErrorId":5000,"ErrorCode":"INTERNAL_ERROR","Nested":{"x":[1,{"y":2}]}}`,
		`{"EventType":"IDLE"}`,
		`{"EventType":"ERROR"}`,
		`{"EventType":"PERSISTED","FragmentTimecode":99999999999999999999999}`,
		`not json`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		a, err := parseAck(line)
		if err != nil {
			if !errors.Is(err, errBadAck) {
				t.Fatalf("error %v does not wrap errBadAck", err)
			}
			return
		}
		if a.EventType == EventError && a.ErrorID <= 0 {
			t.Fatalf("ERROR ack without ErrorId accepted: %+v", a)
		}
		if a.HasTimecode && a.FragmentTimecode < 0 {
			t.Fatalf("negative timecode accepted: %+v", a)
		}
		b, err := parseAck(appendAckJSON(nil, a))
		if err != nil || b != a {
			t.Fatalf("round trip of %+v: %+v, %v", a, b, err)
		}
	})
}
