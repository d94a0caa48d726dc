package cli

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

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
// Tags, Cluster, Tags), the last one optionally an error chunk.
func getMediaChunks(t *testing.T, n int, withAfterTags bool) (stream []byte, ends []int) {
	t.Helper()
	var b bytes.Buffer
	w, err := mkv.NewWriter(&b, mkv.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.WriteHeader([]mkv.Track{{Number: 1, Type: mkv.TrackTypeVideo, CodecID: "V_MPEG4/ISO/AVC"}}); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteTags(mkv.SimpleTag{Name: mkv.TagFragmentNumber, String: strconv.Itoa(100 + i)}); err != nil {
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
	for _, after := range []bool{true, false} {
		stream, ends := getMediaChunks(t, 4, after)
		for _, limit := range []int{0, 1, 3} {
			var out bytes.Buffer
			n, written, err := copyFragments(&out, bytes.NewReader(stream), limit)
			if err != nil {
				t.Fatalf("after tags %v, limit %d: %v", after, limit, err)
			}
			want := 4
			if limit > 0 {
				want = limit
			}
			if n != want || int(written) != out.Len() {
				t.Errorf("after tags %v, limit %d: %d fragments, %d bytes", after, limit, n, written)
			}
			// The output is exactly the first chunks, unchanged (a
			// chunk without trailing Tags ends at its Cluster).
			if !bytes.Equal(out.Bytes(), stream[:ends[want-1]]) {
				t.Errorf("after tags %v, limit %d: output is %d bytes, want the first %d", after, limit, out.Len(), ends[want-1])
			}
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
		n, _, err := copyFragments(&out, &b, 0)
		if n != 2 || err == nil || !strings.Contains(err.Error(), "MISSING_FRAGMENT") {
			t.Errorf("%d fragments, err %v", n, err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		_, _, err := copyFragments(&bytes.Buffer{}, strings.NewReader("not mkv at all"), 0)
		if err == nil {
			t.Error("no error for garbage")
		}
	})
}
