package ingest

import "strconv"

// Ack event types (kvs-api.md §3.2).
const (
	eventBuffering = "BUFFERING"
	eventReceived  = "RECEIVED"
	eventPersisted = "PERSISTED"
	eventError     = "ERROR"
	eventIdle      = "IDLE"
)

// ErrorID is a PutMedia ack error, with the numeric id and name KVS sends
// in ErrorId and ErrorCode.
type ErrorID int

// The PutMedia ack errors (kvs-api.md §3.2; ids and names as the KVS
// producer SDK's ack parser accepts them). A stream deleted during ingest
// gets StreamNotActive, which the KVS PutMedia reference describes as
// "Stream no longer exists (deleted)"; StreamDeleted (4507) is listed for
// completeness and not sent.
const (
	StreamReadError                  ErrorID = 4000
	MaxFragmentSizeReached           ErrorID = 4001
	MaxFragmentDurationReached       ErrorID = 4002
	MaxConnectionDurationReached     ErrorID = 4003
	FragmentTimecodeLesserThanPrev   ErrorID = 4004
	MoreThanAllowedTracksFoundLegacy ErrorID = 4005
	InvalidMKVData                   ErrorID = 4006
	InvalidProducerTimestamp         ErrorID = 4007
	StreamNotActive                  ErrorID = 4008
	FragmentMetadataLimitReached     ErrorID = 4009
	TrackNumberMismatch              ErrorID = 4010
	FramesMissingForTrack            ErrorID = 4011
	MoreThanAllowedTracksFound       ErrorID = 4012
	StreamDeleted                    ErrorID = 4507
	InternalError                    ErrorID = 5000
	ArchivalError                    ErrorID = 5001
)

// Code returns the ErrorCode name KVS sends with the id.
func (e ErrorID) Code() string {
	switch e {
	case StreamReadError:
		return "STREAM_READ_ERROR"
	case MaxFragmentSizeReached:
		return "MAX_FRAGMENT_SIZE_REACHED"
	case MaxFragmentDurationReached:
		return "MAX_FRAGMENT_DURATION_REACHED"
	case MaxConnectionDurationReached:
		return "MAX_CONNECTION_DURATION_REACHED"
	case FragmentTimecodeLesserThanPrev:
		return "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS"
	case MoreThanAllowedTracksFoundLegacy, MoreThanAllowedTracksFound:
		return "MORE_THAN_ALLOWED_TRACKS_FOUND"
	case InvalidMKVData:
		return "INVALID_MKV_DATA"
	case InvalidProducerTimestamp:
		return "INVALID_PRODUCER_TIMESTAMP"
	case StreamNotActive:
		return "STREAM_NOT_ACTIVE"
	case FragmentMetadataLimitReached:
		return "FRAGMENT_METADATA_LIMIT_REACHED"
	case TrackNumberMismatch:
		return "TRACK_NUMBER_MISMATCH"
	case FramesMissingForTrack:
		return "FRAMES_MISSING_FOR_TRACK"
	case StreamDeleted:
		return "STREAM_DELETED"
	case ArchivalError:
		return "ARCHIVAL_ERROR"
	}
	return "INTERNAL_ERROR"
}

// ack is one acknowledgement event.
type ack struct {
	event    string
	timecode uint64 // FragmentTimecode (ms, as the producer sent it)
	hasTC    bool
	number   string // FragmentNumber, "" if none
	errID    ErrorID
	// durable, on a RECEIVED ack, delivers the fragment's durability
	// result; the ack writer turns it into PERSISTED or ERROR 5001.
	durable <-chan error
}

// appendAck appends a as one line of flat JSON, the shape the KVS producer
// SDKs parse: {"EventType":"PERSISTED","FragmentTimecode":1700000000123,
// "FragmentNumber":"9134..."}.
func appendAck(dst []byte, a ack) []byte {
	dst = append(dst, `{"EventType":"`...)
	dst = append(dst, a.event...)
	dst = append(dst, '"')
	if a.hasTC {
		dst = append(dst, `,"FragmentTimecode":`...)
		dst = strconv.AppendUint(dst, a.timecode, 10)
	}
	if a.number != "" {
		dst = append(dst, `,"FragmentNumber":"`...)
		dst = append(dst, a.number...)
		dst = append(dst, '"')
	}
	if a.event == eventError {
		dst = append(dst, `,"ErrorId":`...)
		dst = strconv.AppendInt(dst, int64(a.errID), 10)
		dst = append(dst, `,"ErrorCode":"`...)
		dst = append(dst, a.errID.Code()...)
		dst = append(dst, '"')
	}
	return append(dst, "}\n"...)
}
