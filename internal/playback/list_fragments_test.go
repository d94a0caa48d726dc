package playback

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
)

type rangeJSON struct {
	StartTimestamp *float64 `json:"StartTimestamp,omitempty"`
	EndTimestamp   *float64 `json:"EndTimestamp,omitempty"`
}

type fragmentSelectorJSON struct {
	FragmentSelectorType string     `json:"FragmentSelectorType,omitempty"`
	TimestampRange       *rangeJSON `json:"TimestampRange,omitempty"`
}

type listFragmentsJSON struct {
	StreamName       string                `json:"StreamName,omitempty"`
	StreamARN        string                `json:"StreamARN,omitempty"`
	MaxResults       *int64                `json:"MaxResults,omitempty"`
	NextToken        *string               `json:"NextToken,omitempty"`
	FragmentSelector *fragmentSelectorJSON `json:"FragmentSelector,omitempty"`
}

// listed is a ListFragments response decoded the way the SDKs do:
// timestamps must be JSON numbers (epoch seconds).
type listed struct {
	Fragments []struct {
		FragmentNumber               string      `json:"FragmentNumber"`
		FragmentSizeInBytes          int64       `json:"FragmentSizeInBytes"`
		ProducerTimestamp            json.Number `json:"ProducerTimestamp"`
		ServerTimestamp              json.Number `json:"ServerTimestamp"`
		FragmentLengthInMilliseconds int64       `json:"FragmentLengthInMilliseconds"`
	} `json:"Fragments"`
	NextToken *string `json:"NextToken"`
}

func (e *mediaEnv) list(req listFragmentsJSON) (listed, []byte) {
	e.t.Helper()
	resp := e.post(context.Background(), "/listFragments", req)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		e.t.Fatalf("ListFragments: status %d %s", resp.StatusCode, body)
	}
	var out listed
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		e.t.Fatalf("ListFragments body %s: %v", body, err)
	}
	return out, body
}

func secondsOf(t *testing.T, n json.Number) time.Time {
	t.Helper()
	f, err := n.Float64()
	if err != nil {
		t.Fatalf("timestamp %q is not a number", n)
	}
	return time.UnixMilli(int64(math.Round(f * 1000))).UTC()
}

// listAll follows NextToken to the end and returns the fragment numbers
// in the order listed and the number of pages.
func (e *mediaEnv) listAll(t *testing.T, req listFragmentsJSON) ([]string, int) {
	var nums []string
	pages := 0
	for {
		out, _ := e.list(req)
		pages++
		for _, f := range out.Fragments {
			nums = append(nums, f.FragmentNumber)
		}
		if out.NextToken == nil {
			return nums, pages
		}
		if pages > 100 {
			t.Fatal("NextToken never ends")
		}
		req = listFragmentsJSON{StreamName: req.StreamName, StreamARN: req.StreamARN, MaxResults: req.MaxResults, NextToken: out.NextToken}
	}
}

func TestListFragments(t *testing.T) {
	e := newMediaEnv(t, MediaConfig{})
	h, src := loadSource(t, liveSourceFile)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var frags []*archive.Fragment
	for i := range 10 {
		// Producer times run backwards from fragment 5 on, so that the
		// producer order differs from the number order.
		p := base.Add(time.Duration(i) * 2 * time.Second)
		if i >= 5 {
			p = base.Add(-time.Duration(i) * time.Minute)
		}
		frags = append(frags, e.put(mediaTestStream, h, src[i%len(src)], p, nil))
	}
	nums := func(idx ...int) []string {
		var s []string
		for _, i := range idx {
			s = append(s, frags[i].Number.String())
		}
		return s
	}
	sec := func(t time.Time) *float64 { return epochSeconds(t) }
	server := func(a, b time.Time) *fragmentSelectorJSON {
		return &fragmentSelectorJSON{FragmentSelectorType: "SERVER_TIMESTAMP", TimestampRange: &rangeJSON{sec(a), sec(b)}}
	}
	producer := func(a, b time.Time) *fragmentSelectorJSON {
		return &fragmentSelectorJSON{FragmentSelectorType: "PRODUCER_TIMESTAMP", TimestampRange: &rangeJSON{sec(a), sec(b)}}
	}
	for _, tt := range []struct {
		name  string
		req   listFragmentsJSON
		want  []string
		pages int
	}{
		{"every fragment without a selector", listFragmentsJSON{StreamName: mediaTestStream}, nums(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), 1},
		{"server range, bounds included", listFragmentsJSON{StreamName: mediaTestStream, FragmentSelector: server(frags[2].ServerTime(), frags[5].ServerTime())}, nums(2, 3, 4, 5), 1},
		{"server range inside one fragment starts nothing", listFragmentsJSON{StreamName: mediaTestStream, FragmentSelector: server(frags[2].ServerTime().Add(time.Millisecond), frags[2].ServerTime().Add(900*time.Millisecond))}, nil, 1},
		{"server range after every fragment", listFragmentsJSON{StreamName: mediaTestStream, FragmentSelector: server(frags[9].ServerTime().Add(time.Hour), frags[9].ServerTime().Add(2*time.Hour))}, nil, 1},
		{"producer range", listFragmentsJSON{StreamName: mediaTestStream, FragmentSelector: producer(base, base.Add(4*time.Second))}, nums(0, 1, 2), 1},
		{"producer range out of number order", listFragmentsJSON{StreamName: mediaTestStream, FragmentSelector: producer(base.Add(-8*time.Minute), base.Add(-6*time.Minute))}, nums(6, 7, 8), 1},
		{"pages of 3 by ARN", listFragmentsJSON{StreamARN: e.arn, MaxResults: mediaPtr(int64(3))}, nums(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), 4},
		{"pages of 2 in a producer range", listFragmentsJSON{StreamName: mediaTestStream, MaxResults: mediaPtr(int64(2)), FragmentSelector: producer(base.Add(-time.Hour), base.Add(time.Hour))}, nums(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), 5},
		{"exactly one page", listFragmentsJSON{StreamName: mediaTestStream, MaxResults: mediaPtr(int64(10))}, nums(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, pages := e.listAll(t, tt.req)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") || pages != tt.pages {
				t.Fatalf("listed %d fragments in %d pages, want %d in %d:\n got %v\nwant %v", len(got), pages, len(tt.want), tt.pages, got, tt.want)
			}
		})
	}

	// Every member as the SDKs read it.
	out, body := e.list(listFragmentsJSON{StreamName: mediaTestStream, MaxResults: mediaPtr(int64(1)), FragmentSelector: server(frags[3].ServerTime(), frags[3].ServerTime())})
	if len(out.Fragments) != 1 || out.NextToken != nil {
		t.Fatalf("one-fragment range: %s", body)
	}
	f, want := out.Fragments[0], frags[3]
	if f.FragmentNumber != want.Number.String() || f.FragmentSizeInBytes != want.Size || f.FragmentLengthInMilliseconds != 1000 ||
		!secondsOf(t, f.ServerTimestamp).Equal(want.ServerTime()) || !secondsOf(t, f.ProducerTimestamp).Equal(want.ProducerTime) {
		t.Fatalf("fragment %s, want number %s size %d server %s producer %s", body, want.Number, want.Size, want.ServerTime(), want.ProducerTime)
	}
	// An empty result is an empty list, not null.
	_, body = e.list(listFragmentsJSON{StreamName: mediaTestStream, FragmentSelector: server(base.Add(-time.Hour), base.Add(-time.Minute))})
	if !bytes.Contains(body, []byte(`"Fragments":[]`)) || bytes.Contains(body, []byte("NextToken")) {
		t.Fatalf("empty result %s", body)
	}
	// A stream without fragments lists none.
	e.createStream("empty")
	if got, _ := e.listAll(t, listFragmentsJSON{StreamName: "empty"}); len(got) != 0 {
		t.Fatalf("empty stream listed %v", got)
	}
	// Results are not sorted by anything the client can rely on, but
	// every page continues where the last ended: no fragment twice.
	got, _ := e.listAll(t, listFragmentsJSON{StreamName: mediaTestStream, MaxResults: mediaPtr(int64(4))})
	if !sort.StringsAreSorted(got) || len(got) != 10 {
		t.Fatalf("pages %v", got)
	}
}

func TestListFragmentsBadRequests(t *testing.T) {
	e := newMediaEnv(t, MediaConfig{})
	e.createStream("other")
	h, src := loadSource(t, liveSourceFile)
	for i := range 3 {
		e.put(mediaTestStream, h, src[i], time.Now(), nil)
	}
	first, _ := e.list(listFragmentsJSON{StreamName: mediaTestStream, MaxResults: mediaPtr(int64(1))})
	if first.NextToken == nil || !nextTokenPattern.MatchString(*first.NextToken) {
		t.Fatalf("NextToken %v does not match the model's pattern", first.NextToken)
	}
	t0 := epochSeconds(time.Unix(1700000000, 0))
	t1 := epochSeconds(time.Unix(1700000100, 0))
	junk := base64.StdEncoding.EncodeToString([]byte(`{"v":1,"s":"cam","k":7}`))
	for _, tt := range []struct {
		name string
		body any
		code awsapi.Code
	}{
		{"unknown stream", listFragmentsJSON{StreamName: "nope"}, awsapi.ResourceNotFound},
		{"no stream", listFragmentsJSON{}, awsapi.InvalidArgument},
		{"MaxResults 0", listFragmentsJSON{StreamName: mediaTestStream, MaxResults: mediaPtr(int64(0))}, awsapi.InvalidArgument},
		{"MaxResults 1001", listFragmentsJSON{StreamName: mediaTestStream, MaxResults: mediaPtr(int64(1001))}, awsapi.InvalidArgument},
		{"MaxResults negative", listFragmentsJSON{StreamName: mediaTestStream, MaxResults: mediaPtr(int64(-1))}, awsapi.InvalidArgument},
		{"no selector type", listFragmentsJSON{StreamName: mediaTestStream, FragmentSelector: &fragmentSelectorJSON{TimestampRange: &rangeJSON{t0, t1}}}, awsapi.InvalidArgument},
		{"bad selector type", listFragmentsJSON{StreamName: mediaTestStream, FragmentSelector: &fragmentSelectorJSON{FragmentSelectorType: "ARRIVAL", TimestampRange: &rangeJSON{t0, t1}}}, awsapi.InvalidArgument},
		{"no range", listFragmentsJSON{StreamName: mediaTestStream, FragmentSelector: &fragmentSelectorJSON{FragmentSelectorType: "SERVER_TIMESTAMP"}}, awsapi.InvalidArgument},
		{"no start", listFragmentsJSON{StreamName: mediaTestStream, FragmentSelector: &fragmentSelectorJSON{FragmentSelectorType: "SERVER_TIMESTAMP", TimestampRange: &rangeJSON{EndTimestamp: t1}}}, awsapi.InvalidArgument},
		{"no end", listFragmentsJSON{StreamName: mediaTestStream, FragmentSelector: &fragmentSelectorJSON{FragmentSelectorType: "PRODUCER_TIMESTAMP", TimestampRange: &rangeJSON{StartTimestamp: t0}}}, awsapi.InvalidArgument},
		{"start after end", listFragmentsJSON{StreamName: mediaTestStream, FragmentSelector: &fragmentSelectorJSON{FragmentSelectorType: "SERVER_TIMESTAMP", TimestampRange: &rangeJSON{t1, t0}}}, awsapi.InvalidArgument},
		{"token not base64", listFragmentsJSON{StreamName: mediaTestStream, NextToken: mediaPtr("not a token!")}, awsapi.InvalidArgument},
		{"token base64 of garbage", listFragmentsJSON{StreamName: mediaTestStream, NextToken: mediaPtr("Z2FyYmFnZQ==")}, awsapi.InvalidArgument},
		{"token with a bad kind", listFragmentsJSON{StreamName: mediaTestStream, NextToken: &junk}, awsapi.InvalidArgument},
		{"token too long", listFragmentsJSON{StreamName: mediaTestStream, NextToken: mediaPtr(strings.Repeat("A", 4100))}, awsapi.InvalidArgument},
		{"token of another stream", listFragmentsJSON{StreamName: "other", NextToken: first.NextToken}, awsapi.InvalidArgument},
		{"timestamp as a word", `{"StreamName":"cam","FragmentSelector":{"FragmentSelectorType":"SERVER_TIMESTAMP","TimestampRange":{"StartTimestamp":"now","EndTimestamp":1}}}`, awsapi.SerializationError},
		{"MaxResults as a string", `{"StreamName":"cam","MaxResults":"ten"}`, awsapi.SerializationError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.post(context.Background(), "/listFragments", tt.body), tt.code)
		})
	}
}

// FuzzListFragmentsToken: any NextToken either fails to decode or names a
// query that encodes back to a token decoding to the same query; nothing
// panics.
func FuzzListFragmentsToken(f *testing.F) {
	f.Add(encodeListToken(listQuery{V: 1, Stream: "cam", Kind: archive.ServerTime, Start: 0, End: math.MaxInt64}))
	f.Add(encodeListToken(listQuery{V: 1, Stream: "cam", Kind: archive.ProducerTime, Start: -5, End: 5, After: archive.Number{Millis: 1700000000000, Seq: 3}.String()}))
	f.Add("")
	f.Add("====")
	f.Add("Z2FyYmFnZQ==")
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"v":1,"s":"cam","k":1,"b":9,"e":1}`)))
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"v":1,"s":"cam","k":0,"b":1,"e":9,"a":"12"}`)))
	f.Fuzz(func(t *testing.T, tok string) {
		q, after, err := decodeListToken(tok)
		if err != nil {
			return
		}
		if q.Start > q.End || q.Stream == "" {
			t.Fatalf("accepted %+v", q)
		}
		q2, after2, err := decodeListToken(encodeListToken(q))
		if err != nil || q2 != q || after2 != after {
			t.Fatalf("round trip %+v -> %+v, %v", q, q2, err)
		}
	})
}

// FuzzMediaRequests decodes arbitrary bodies as the three operations'
// requests: nothing panics, and every rejection is an AWS client error.
func FuzzMediaRequests(f *testing.F) {
	for _, s := range []string{
		`{"StreamName":"cam","StartSelector":{"StartSelectorType":"NOW"}}`,
		`{"StreamName":"cam","StartSelector":{"StartSelectorType":"FRAGMENT_NUMBER","AfterFragmentNumber":"91000000017000000000000000000000000000000000003"}}`,
		`{"StreamName":"cam","StartSelector":{"StartSelectorType":"SERVER_TIMESTAMP","StartTimestamp":1700000000.5}}`,
		`{"StreamName":"cam","StartSelector":{"StartSelectorType":"CONTINUATION_TOKEN","ContinuationToken":"a.b-c_d"}}`,
		`{"StreamName":"cam","MaxResults":5,"FragmentSelector":{"FragmentSelectorType":"PRODUCER_TIMESTAMP","TimestampRange":{"StartTimestamp":1,"EndTimestamp":2}}}`,
		`{"StreamName":"cam","NextToken":"Z2FyYmFnZQ=="}`,
		`{"StreamName":"cam","Fragments":["1","91000000017000000000000000000000000000000000003"]}`,
		`{"StreamName":"cam","Fragments":[]}`,
		`{"StartSelector":null}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			if e := awsapi.AsError(err); e.Status() < 400 || e.Status() >= 500 {
				t.Fatalf("error %v is not a client error", err)
			}
		}
		var gm getMediaInput
		if err := awsapi.DecodeJSONBytes(body, &gm); err == nil {
			_, err = parseStartSelector(gm.StartSelector)
			check(err)
		} else {
			check(err)
		}
		var lf listFragmentsInput
		if err := awsapi.DecodeJSONBytes(body, &lf); err == nil {
			_, _, _, err = parseListFragments(&lf, "cam")
			check(err)
		} else {
			check(err)
		}
		var fl getMediaForFragmentListInput
		if err := awsapi.DecodeJSONBytes(body, &fl); err == nil {
			_, err = parseFragmentList(fl.Fragments)
			check(err)
		} else {
			check(err)
		}
	})
}
