package mkv

import (
	"strconv"
	"time"
)

// SimpleTag names that KVS GetMedia and GetMediaForFragmentList put around
// each fragment (kvs-api.md §3.3). Fragment number and timestamps go in a
// Tags element before the Cluster, millis-behind-now and the continuation
// token in one after it, and the error tags in the last chunk of a failed
// stream.
const (
	TagFragmentNumber     = "AWS_KINESISVIDEO_FRAGMENT_NUMBER"
	TagServerTimestamp    = "AWS_KINESISVIDEO_SERVER_TIMESTAMP"
	TagProducerTimestamp  = "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP"
	TagMillisBehindNow    = "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW"
	TagContinuationToken  = "AWS_KINESISVIDEO_CONTINUATION_TOKEN"
	TagErrorCode          = "AWS_KINESISVIDEO_ERROR_CODE"
	TagErrorID            = "AWS_KINESISVIDEO_ERROR_ID"
	reservedTagNamePrefix = "AWS"
)

// IsReservedTagName reports whether a producer-supplied fragment metadata
// tag name is reserved for the service (names starting with "AWS",
// kvs-api.md §3.2).
func IsReservedTagName(name string) bool {
	return len(name) >= len(reservedTagNamePrefix) && name[:len(reservedTagNamePrefix)] == reservedTagNamePrefix
}

// FormatTimestamp formats t as KVS timestamp tags carry it: epoch seconds
// with a three-digit millisecond fraction, e.g. "1700000000.123".
func FormatTimestamp(t time.Time) string {
	ms := t.UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	b := strconv.AppendInt(make([]byte, 0, 24), sec, 10)
	b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return string(b)
}

// ParseTimestamp parses a KVS timestamp tag value such as
// "1700000000.123" (seconds with an optional fraction).
func ParseTimestamp(s string) (time.Time, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, err
	}
	ms := int64(f*1000 + 0.5)
	if f < 0 {
		ms = int64(f*1000 - 0.5)
	}
	return time.UnixMilli(ms), nil
}
