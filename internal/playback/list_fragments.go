package playback

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"regexp"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
)

// ListFragments limits from the kinesis-video-archived-media model.
const (
	defaultListFragments = 100
	maxListFragments     = 1000
	maxNextTokenLen      = 4096
)

// nextTokenPattern is the model's NextToken pattern (base64).
var nextTokenPattern = regexp.MustCompile(`^[a-zA-Z0-9+/]+={0,2}$`)

// The FragmentSelectorType values (also used by GetClip, HLS and DASH).
const (
	selectorTypeProducer = "PRODUCER_TIMESTAMP"
	selectorTypeServer   = "SERVER_TIMESTAMP"
)

type listFragmentsInput struct {
	mediaStreamRef
	MaxResults       *int64                 `json:"MaxResults"`
	NextToken        *string                `json:"NextToken"`
	FragmentSelector *fragmentSelectorInput `json:"FragmentSelector"`
}

type fragmentSelectorInput struct {
	FragmentSelectorType *string              `json:"FragmentSelectorType"`
	TimestampRange       *timestampRangeInput `json:"TimestampRange"`
}

type timestampRangeInput struct {
	StartTimestamp *awsapi.Timestamp `json:"StartTimestamp"`
	EndTimestamp   *awsapi.Timestamp `json:"EndTimestamp"`
}

type listFragmentsOutput struct {
	Fragments []fragmentOutput `json:"Fragments"`
	NextToken string           `json:"NextToken,omitempty"`
}

// fragmentOutput is the model's Fragment; timestamps are epoch seconds.
type fragmentOutput struct {
	FragmentNumber               string            `json:"FragmentNumber"`
	FragmentSizeInBytes          int64             `json:"FragmentSizeInBytes"`
	ProducerTimestamp            *awsapi.Timestamp `json:"ProducerTimestamp"`
	ServerTimestamp              *awsapi.Timestamp `json:"ServerTimestamp"`
	FragmentLengthInMilliseconds int64             `json:"FragmentLengthInMilliseconds"`
}

// listQuery is one ListFragments page request: fragments of stream whose
// start time by kind is within [start, end], numbered after after. A
// NextToken carries it from page to page.
type listQuery struct {
	// V is the token format version, 1.
	V      int    `json:"v"`
	Stream string `json:"s"`
	// Kind is archive.ServerTime or archive.ProducerTime.
	Kind  archive.TimeKind `json:"k"`
	Start int64            `json:"b"` // Unix nanoseconds
	End   int64            `json:"e"` // Unix nanoseconds
	After string           `json:"a,omitempty"`
}

// encodeListToken returns q as an opaque NextToken (standard base64, as the
// model's pattern wants).
func encodeListToken(q listQuery) string {
	b, _ := json.Marshal(q) // a struct of strings and integers always encodes
	return base64.StdEncoding.EncodeToString(b)
}

var errBadListToken = errors.New("bad token")

// decodeListToken parses a NextToken made by encodeListToken.
func decodeListToken(tok string) (listQuery, archive.Number, error) {
	var q listQuery
	if len(tok) > maxNextTokenLen || !nextTokenPattern.MatchString(tok) {
		return q, archive.Number{}, errBadListToken
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return q, archive.Number{}, errBadListToken
	}
	if err := json.Unmarshal(b, &q); err != nil || q.V != 1 || q.Stream == "" ||
		(q.Kind != archive.ServerTime && q.Kind != archive.ProducerTime) || q.Start > q.End {
		return q, archive.Number{}, errBadListToken
	}
	var after archive.Number
	if q.After != "" {
		if after, err = archive.ParseNumber(q.After); err != nil {
			return q, archive.Number{}, errBadListToken
		}
	}
	return q, after, nil
}

// parseListFragments validates the request members that do not need the
// stream: MaxResults, and FragmentSelector when no NextToken is given
// (without either, every fragment is listed). stream is the resolved
// stream name a NextToken must have been made for.
func parseListFragments(in *listFragmentsInput, stream string) (listQuery, archive.Number, int, error) {
	limit := defaultListFragments
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > maxListFragments {
			return listQuery{}, archive.Number{}, 0, invalid("MaxResults must be between 1 and %d.", maxListFragments)
		}
		limit = int(*in.MaxResults)
	}
	if in.NextToken != nil {
		q, after, err := decodeListToken(*in.NextToken)
		if err != nil {
			return q, after, 0, invalid("NextToken is not a token returned by ListFragments.")
		}
		if q.Stream != stream {
			return q, after, 0, invalid("NextToken was returned for another stream.")
		}
		return q, after, limit, nil
	}
	q := listQuery{V: 1, Stream: stream, Kind: archive.ServerTime, Start: math.MinInt64, End: math.MaxInt64}
	fs := in.FragmentSelector
	if fs == nil {
		return q, archive.Number{}, limit, nil
	}
	switch {
	case fs.FragmentSelectorType == nil:
		return q, archive.Number{}, 0, invalid("FragmentSelector.FragmentSelectorType is required.")
	case *fs.FragmentSelectorType == selectorTypeServer:
	case *fs.FragmentSelectorType == selectorTypeProducer:
		q.Kind = archive.ProducerTime
	default:
		return q, archive.Number{}, 0, invalid("FragmentSelector.FragmentSelectorType %q must be PRODUCER_TIMESTAMP or SERVER_TIMESTAMP.", clip(*fs.FragmentSelectorType))
	}
	tr := fs.TimestampRange
	if tr == nil || tr.StartTimestamp == nil || tr.StartTimestamp.IsZero() || tr.EndTimestamp == nil || tr.EndTimestamp.IsZero() {
		return q, archive.Number{}, 0, invalid("FragmentSelector.TimestampRange with StartTimestamp and EndTimestamp is required.")
	}
	start, end := tr.StartTimestamp.Time, tr.EndTimestamp.Time
	if end.Before(start) {
		return q, archive.Number{}, 0, invalid("FragmentSelector.TimestampRange.StartTimestamp must not be after EndTimestamp.")
	}
	q.Start, q.End = start.UnixNano(), end.UnixNano()
	return q, archive.Number{}, limit, nil
}

// listFragments serves ListFragments: one page of the archived fragments
// whose start time is within a timestamp range, in fragment number order
// (KVS promises no order), with a NextToken while more follow.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_reader_ListFragments.html
func (s *Service) listFragments(w http.ResponseWriter, r *http.Request) {
	var in listFragmentsInput
	if err := awsapi.DecodeJSON(r, &in); err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	st, err := s.resolveStream(r.Context(), in.mediaStreamRef)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	q, after, limit, err := parseListFragments(&in, st.Name)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	frags, more, err := s.cfg.Archive.List(st.Name, q.Kind, time.Unix(0, q.Start), time.Unix(0, q.End), after, limit)
	if err != nil {
		awsapi.WriteError(w, r, err)
		return
	}
	out := listFragmentsOutput{Fragments: make([]fragmentOutput, 0, len(frags))}
	for _, f := range frags {
		out.Fragments = append(out.Fragments, fragmentOutput{
			FragmentNumber:               f.Number.String(),
			FragmentSizeInBytes:          f.Size,
			ProducerTimestamp:            awsapi.TimestampOf(f.ProducerTime),
			ServerTimestamp:              awsapi.TimestampOf(f.ServerTime()),
			FragmentLengthInMilliseconds: f.Duration.Milliseconds(),
		})
	}
	if more && len(frags) > 0 {
		q.After = frags[len(frags)-1].Number.String()
		out.NextToken = encodeListToken(q)
	}
	awsapi.WriteJSON(w, out)
}
