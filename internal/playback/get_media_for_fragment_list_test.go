package playback

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/media/mkv"
)

type fragmentListJSON struct {
	StreamName string   `json:"StreamName,omitempty"`
	StreamARN  string   `json:"StreamARN,omitempty"`
	Fragments  []string `json:"Fragments"`
}

// TestGetMediaForFragmentList: the listed fragments come back in the order
// asked, each a chunk with its frames byte for byte and its tags, without
// GetMedia's continuation tags, and the response ends.
func TestGetMediaForFragmentList(t *testing.T) {
	e := newMediaEnv(t, MediaConfig{})
	h, src := loadSource(t, liveSourceFile)
	var frags []*archive.Fragment
	for i := range 6 {
		frags = append(frags, e.put(mediaTestStream, h, src[i], time.Unix(1700000000, 0).Add(time.Duration(i)*time.Second), nil))
	}
	order := []int{3, 1, 5, 1}
	var list []string
	for _, i := range order {
		list = append(list, frags[i].Number.String())
	}
	for _, req := range []fragmentListJSON{{StreamName: mediaTestStream, Fragments: list}, {StreamARN: e.arn, Fragments: list}} {
		resp := e.post(context.Background(), "/getMediaForFragmentList", req)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/webm" {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		cr := newChunkReader(resp.Body)
		var chunks []*chunk
		for _, i := range order {
			c, err := cr.next()
			if err != nil {
				t.Fatal(err)
			}
			checkChunk(t, c, frags[i], src[i])
			chunks = append(chunks, c)
		}
		if _, err := cr.next(); err != io.EOF {
			t.Fatalf("after the last fragment: %v, want the end", err)
		}
		for i, c := range chunks {
			if len(c.post) != 0 {
				t.Errorf("chunk %d has tags after its Cluster: %v", i, c.post)
			}
			if _, ok := c.pre[mkv.TagContinuationToken]; ok {
				t.Errorf("chunk %d has a continuation token", i)
			}
		}
		resp.Body.Close()
	}
}

func TestGetMediaForFragmentListBadRequests(t *testing.T) {
	e := newMediaEnv(t, MediaConfig{})
	e.createStream("other")
	h, src := loadSource(t, liveSourceFile)
	f := e.put(mediaTestStream, h, src[0], time.Now(), nil)
	fn := f.Number.String()
	missing := archive.Number{Millis: f.Number.Millis + 1}.String()
	many := make([]string, 1001)
	for i := range many {
		many[i] = fn
	}
	for _, tt := range []struct {
		name string
		body any
		code awsapi.Code
	}{
		{"unknown stream", fragmentListJSON{StreamName: "nope", Fragments: []string{fn}}, awsapi.ResourceNotFound},
		{"no stream", fragmentListJSON{Fragments: []string{fn}}, awsapi.InvalidArgument},
		{"no fragments", fragmentListJSON{StreamName: mediaTestStream}, awsapi.InvalidArgument},
		{"empty list", fragmentListJSON{StreamName: mediaTestStream, Fragments: []string{}}, awsapi.InvalidArgument},
		{"1001 fragments", fragmentListJSON{StreamName: mediaTestStream, Fragments: many}, awsapi.InvalidArgument},
		{"not digits", fragmentListJSON{StreamName: mediaTestStream, Fragments: []string{fn, "12x"}}, awsapi.InvalidArgument},
		{"empty number", fragmentListJSON{StreamName: mediaTestStream, Fragments: []string{""}}, awsapi.InvalidArgument},
		{"number too long", fragmentListJSON{StreamName: mediaTestStream, Fragments: []string{strings.Repeat("9", 129)}}, awsapi.InvalidArgument},
		{"number never made", fragmentListJSON{StreamName: mediaTestStream, Fragments: []string{fn, "123"}}, awsapi.ResourceNotFound},
		{"number not in the stream", fragmentListJSON{StreamName: mediaTestStream, Fragments: []string{missing}}, awsapi.ResourceNotFound},
		{"number of another stream", fragmentListJSON{StreamName: "other", Fragments: []string{fn}}, awsapi.ResourceNotFound},
		{"numbers as integers", `{"StreamName":"cam","Fragments":[91]}`, awsapi.SerializationError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.post(context.Background(), "/getMediaForFragmentList", tt.body), tt.code)
		})
	}
	// The full 1000 is allowed.
	resp := e.post(context.Background(), "/getMediaForFragmentList", fragmentListJSON{StreamName: mediaTestStream, Fragments: many[:1000]})
	defer resp.Body.Close()
	n := 0
	for cr := newChunkReader(resp.Body); ; n++ {
		if _, err := cr.next(); err != nil {
			break
		}
	}
	if resp.StatusCode != http.StatusOK || n != 1000 {
		t.Fatalf("1000 fragments: status %d, %d chunks", resp.StatusCode, n)
	}
}
