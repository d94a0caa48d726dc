package cli

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/media/mkv"
)

func TestGetMediaStartSelector(t *testing.T) {
	for _, tt := range []struct {
		o    getMediaOptions
		want string // the JSON StartSelector, or error text
	}{
		{getMediaOptions{selector: "now"}, `{"StartSelectorType":"NOW"}`},
		{getMediaOptions{selector: "EARLIEST"}, `{"StartSelectorType":"EARLIEST"}`},
		{getMediaOptions{selector: "FRAGMENT_NUMBER", fragment: "9134"}, `{"AfterFragmentNumber":"9134","StartSelectorType":"FRAGMENT_NUMBER"}`},
		{getMediaOptions{selector: "PRODUCER_TIMESTAMP", startTime: "1700000000.5"}, `{"StartSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":1700000000.500}`},
		{getMediaOptions{selector: "SERVER_TIMESTAMP", startTime: "2023-11-14T22:13:20Z"}, `{"StartSelectorType":"SERVER_TIMESTAMP","StartTimestamp":1700000000.000}`},
		{getMediaOptions{selector: "CONTINUATION_TOKEN", token: "abc"}, `{"ContinuationToken":"abc","StartSelectorType":"CONTINUATION_TOKEN"}`},
		{getMediaOptions{selector: "FRAGMENT_NUMBER"}, "needs --fragment"},
		{getMediaOptions{selector: "SERVER_TIMESTAMP"}, "needs --start-time"},
		{getMediaOptions{selector: "SERVER_TIMESTAMP", startTime: "yesterday"}, "want RFC 3339"},
		{getMediaOptions{selector: "CONTINUATION_TOKEN"}, "needs --continuation-token"},
		{getMediaOptions{selector: "LATEST"}, "unknown --start-selector"},
	} {
		m, err := tt.o.startSelector()
		var got string
		if err != nil {
			got = err.Error()
		} else {
			b, _ := json.Marshal(m)
			got = string(b)
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("%+v: got %s, want %s", tt.o, got, tt.want)
		}
	}
}

// getMediaChunks builds a GetMedia-style stream of n chunks (header,
// Tags, Cluster, Tags) one second apart, numbered 100 on.
func getMediaChunks(t *testing.T, n int, withAfterTags bool) (stream []byte, ends []int) {
	t.Helper()
	var b bytes.Buffer
	w, err := mkv.NewWriter(&b, mkv.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_700_000_000, 0)
	for i := range n {
		if err := w.WriteHeader([]mkv.Track{{Number: 1, Type: mkv.TrackTypeVideo, CodecID: "V_MPEG4/ISO/AVC"}}); err != nil {
			t.Fatal(err)
		}
		at := mkv.FormatTimestamp(base.Add(time.Duration(i) * time.Second))
		if err := w.WriteTags(mkv.SimpleTag{Name: mkv.TagFragmentNumber, String: strconv.Itoa(100 + i)},
			mkv.SimpleTag{Name: mkv.TagServerTimestamp, String: at}, mkv.SimpleTag{Name: mkv.TagProducerTimestamp, String: at}); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteCluster(uint64(i*1000), []mkv.Frame{{Track: 1, Keyframe: true, Data: []byte("frame")}}); err != nil {
			t.Fatal(err)
		}
		if withAfterTags {
			if err := w.WriteTags(mkv.SimpleTag{Name: mkv.TagMillisBehindNow, String: "5"}); err != nil {
				t.Fatal(err)
			}
		}
		ends = append(ends, b.Len())
	}
	return b.Bytes(), ends
}

func TestCopyFragments(t *testing.T) {
	for _, tt := range []struct {
		stops     stops
		afterTags bool
		want      int
	}{
		{stops{}, true, 4},
		{stops{}, false, 4},
		{stops{fragments: 1}, true, 1},
		{stops{fragments: 3}, true, 3},
		{stops{fragments: 3}, false, 3},
		{stops{duration: time.Millisecond}, true, 2},
		{stops{duration: 2 * time.Second}, true, 3},
		{stops{duration: 2 * time.Second}, false, 3},
		{stops{duration: time.Hour}, true, 4},
		{stops{until: "102"}, true, 3},
		{stops{until: "102"}, false, 3},
		{stops{until: "102", fragments: 2}, true, 2},
		{stops{until: "99"}, true, 1},    // expired: the first one after it
		{stops{until: "00101"}, true, 2}, // by value
		{stops{until: "1000"}, true, 4},
	} {
		stream, ends := getMediaChunks(t, 4, tt.afterTags)
		var out bytes.Buffer
		n, written, err := copyFragments(&out, bytes.NewReader(stream), tt.stops)
		if err != nil {
			t.Fatalf("%+v, after tags %v: %v", tt.stops, tt.afterTags, err)
		}
		if n != tt.want || int(written) != out.Len() {
			t.Errorf("%+v, after tags %v: %d fragments, %d bytes; want %d fragments", tt.stops, tt.afterTags, n, written, tt.want)
		}
		// The output is exactly the first chunks, unchanged (a chunk
		// without trailing Tags ends at its Cluster).
		if !bytes.Equal(out.Bytes(), stream[:ends[tt.want-1]]) {
			t.Errorf("%+v, after tags %v: output is %d bytes, want the first %d", tt.stops, tt.afterTags, out.Len(), ends[tt.want-1])
		}
	}

	t.Run("error chunk", func(t *testing.T) {
		stream, _ := getMediaChunks(t, 2, true)
		var b bytes.Buffer
		b.Write(stream)
		w, _ := mkv.NewWriter(&b, mkv.WriterConfig{})
		_ = w.WriteHeader([]mkv.Track{{Number: 1, Type: mkv.TrackTypeVideo, CodecID: "V_MPEG4/ISO/AVC"}})
		_ = w.WriteTags(mkv.SimpleTag{Name: mkv.TagErrorCode, String: "MISSING_FRAGMENT"}, mkv.SimpleTag{Name: mkv.TagErrorID, String: "4000"})
		var out bytes.Buffer
		n, _, err := copyFragments(&out, &b, stops{})
		if n != 2 || err == nil || !strings.Contains(err.Error(), "MISSING_FRAGMENT") {
			t.Errorf("%d fragments, err %v", n, err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		_, _, err := copyFragments(&bytes.Buffer{}, strings.NewReader("not mkv at all"), stops{})
		if err == nil {
			t.Error("no error for garbage")
		}
	})
}
