package playback_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"

	"github.com/openkvs/openkvs/internal/testserver"
	"github.com/openkvs/openkvs/media/mkv"
)

// TestPutMediaGetMediaServer runs a whole openkvs: an ffmpeg-made H.264 +
// AAC MKV goes in with PutMedia, and GetMedia(EARLIEST) and
// GetMediaForFragmentList give back every frame byte for byte, with the
// fragment numbers of the PERSISTED acks and the producer timestamps the
// RELATIVE timecodes make.
func TestPutMediaGetMediaServer(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	path := filepath.Join(t.TempDir(), "src.mkv")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "38", "-g", "25", "-c:a", "aac", "-b:a", "32k",
		"-live", "1", "-cluster_time_limit", "1000", "-f", "matroska", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src := clustersOf(t, bytes.NewReader(data))

	ctx := context.Background()
	srv, base := startServer(t, "cam1")
	client := srv.HTTPClient()
	sign := signer(t, srv, base)

	// PutMedia, as the producer SDKs sign it (the body counts as empty).
	start := time.Now().Truncate(time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/putMedia", bytes.NewReader(data))
	req.Header.Set("x-amzn-stream-name", "cam1")
	req.Header.Set("x-amzn-fragment-timecode-type", "RELATIVE")
	req.Header.Set("x-amzn-producer-start-timestamp", strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64))
	sign(req, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var persisted []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var a struct {
			EventType      string
			FragmentNumber string
			ErrorId        int
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("ack %q: %v", sc.Bytes(), err)
		}
		switch a.EventType {
		case "PERSISTED":
			persisted = append(persisted, a.FragmentNumber)
		case "ERROR":
			t.Fatalf("ack %s", sc.Bytes())
		}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(persisted) != len(src) {
		t.Fatalf("PutMedia: status %d, %d PERSISTED acks for %d clusters", resp.StatusCode, len(persisted), len(src))
	}

	post := func(ctx context.Context, path string, v any) *http.Response {
		t.Helper()
		body, _ := json.Marshal(v)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		sign(req, body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/webm" {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s: status %d: %s", path, resp.StatusCode, b)
		}
		return resp
	}
	check := func(name string, r *mkv.Reader) {
		t.Helper()
		tags := map[string]string{}
		for i := 0; i < len(src); {
			ev, err := r.Next()
			if err != nil {
				t.Fatalf("%s: chunk %d: %v", name, i, err)
			}
			switch ev {
			case mkv.EventHeader:
				tags = map[string]string{}
			case mkv.EventTags:
				for _, tg := range r.Tags().Tags {
					for _, st := range tg.SimpleTags {
						tags[st.Name] = st.String
					}
				}
			case mkv.EventCluster:
				c := r.Cluster()
				if tags[mkv.TagFragmentNumber] != persisted[i] {
					t.Fatalf("%s: chunk %d is fragment %s, want %s", name, i, tags[mkv.TagFragmentNumber], persisted[i])
				}
				wantTS := mkv.FormatTimestamp(start.Add(time.Duration(src[i].Timecode) * time.Millisecond))
				if tags[mkv.TagProducerTimestamp] != wantTS {
					t.Fatalf("%s: chunk %d producer timestamp %s, want %s", name, i, tags[mkv.TagProducerTimestamp], wantTS)
				}
				if len(c.Frames) != len(src[i].Frames) {
					t.Fatalf("%s: chunk %d has %d frames, want %d", name, i, len(c.Frames), len(src[i].Frames))
				}
				for j, f := range c.Frames {
					w := src[i].Frames[j]
					if f.Track != w.Track || f.Timecode != w.Timecode || f.Keyframe != w.Keyframe || !bytes.Equal(f.Data, w.Data) {
						t.Fatalf("%s: chunk %d frame %d differs", name, i, j)
					}
				}
				i++
			}
		}
	}

	gctx, cancel := context.WithCancel(ctx)
	resp = post(gctx, "/getMedia", map[string]any{"StreamName": "cam1", "StartSelector": map[string]string{"StartSelectorType": "EARLIEST"}})
	check("GetMedia", mkv.NewReader(resp.Body, mkv.ReaderConfig{}))
	cancel()
	resp.Body.Close()

	resp = post(ctx, "/getMediaForFragmentList", map[string]any{"StreamName": "cam1", "Fragments": persisted})
	r := mkv.NewReader(resp.Body, mkv.ReaderConfig{})
	check("GetMediaForFragmentList", r)
	for {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	resp.Body.Close()

	// Deleting the stream ends its readers, and shutting the server down
	// ends every reader's response cleanly (not cut off when the graceful
	// wait gives up).
	if _, err := srv.KVS().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam2")}); err != nil {
		t.Fatal(err)
	}
	now := map[string]string{"StartSelectorType": "NOW"}
	live1 := post(ctx, "/getMedia", map[string]any{"StreamName": "cam1", "StartSelector": now})
	defer live1.Body.Close()
	live2 := post(ctx, "/getMedia", map[string]any{"StreamName": "cam2", "StartSelector": now})
	defer live2.Body.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, live2.Body)
		done <- err
	}()
	if _, err := srv.KVS().DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: streamARN(t, srv, "cam1")}); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, live1.Body)
		ended <- err
	}()
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("reader of the deleted stream: %v", err)
		}
	case err := <-done:
		t.Fatalf("reader of another stream ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("reader of the deleted stream still open after 10 s")
	}
	select {
	case err := <-done:
		t.Fatalf("reader of another stream ended: %v", err)
	default:
	}
	srv.Stop(t)
	if err := <-done; err != nil {
		t.Fatalf("reader at shutdown: %v", err)
	}
}

func streamARN(t *testing.T, srv *testserver.Server, name string) *string {
	t.Helper()
	out, err := srv.KVS().DescribeStream(context.Background(), &kinesisvideo.DescribeStreamInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return out.StreamInfo.StreamARN
}

// startServer starts an openkvs with a stream and returns its GET_MEDIA
// data endpoint (the same base URL serves PutMedia).
func startServer(t testing.TB, stream string) (*testserver.Server, string) {
	t.Helper()
	srv := testserver.Start(t, testserver.Options{})
	ctx := context.Background()
	kvs := srv.KVS()
	if _, err := kvs.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(stream), DataRetentionInHours: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	ep, err := kvs.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String(stream), APIName: types.APINameGetMedia})
	if err != nil {
		t.Fatal(err)
	}
	return srv, aws.ToString(ep.DataEndpoint)
}

// signer returns a function that signs a request to base with SigV4 as
// the KVS SDKs do, over body's SHA-256 (PutMedia: nil, the empty hash).
func signer(t testing.TB, srv *testserver.Server, base string) func(*http.Request, []byte) {
	cfg := srv.AWSConfig(base)
	return func(req *http.Request, body []byte) {
		t.Helper()
		sum := sha256.Sum256(body)
		creds, err := cfg.Credentials.Retrieve(req.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := v4.NewSigner().SignHTTP(req.Context(), creds, req, hex.EncodeToString(sum[:]), "kinesisvideo", cfg.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

func clustersOf(t testing.TB, rd io.Reader) []*mkv.Cluster {
	t.Helper()
	r := mkv.NewReader(rd, mkv.ReaderConfig{})
	var out []*mkv.Cluster
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev == mkv.EventCluster {
			out = append(out, r.Cluster().Clone())
		}
	}
}

// BenchmarkPutMediaLiveLatency measures the live latency through a whole
// openkvs on loopback: from the moment a fragment's last byte is written
// into a PutMedia request to a GetMedia(NOW) reader having parsed that
// fragment's Cluster. Fragments are the Clusters of an ffmpeg-made H.264 +
// AAC file, sent one at a time.
func BenchmarkPutMediaLiveLatency(b *testing.B) {
	f, err := os.Open("../../media/mkv/testdata/h264_aac_live.mkv")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rd := mkv.NewReader(f, mkv.ReaderConfig{})
	var tracks []byte
	var src []*mkv.Cluster
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		switch ev {
		case mkv.EventTracks:
			tracks = append([]byte(nil), rd.Tracks().Raw...)
		case mkv.EventCluster:
			src = append(src, rd.Cluster().Clone())
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, base := startServer(b, "bench")
	client := srv.HTTPClient()
	sign := signer(b, srv, base)

	// The reader first, on NOW.
	body, _ := json.Marshal(map[string]any{"StreamName": "bench", "StartSelector": map[string]string{"StartSelectorType": "NOW"}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/getMedia", bytes.NewReader(body))
	sign(req, body)
	gm, err := client.Do(req)
	if err != nil || gm.StatusCode != http.StatusOK {
		b.Fatalf("GetMedia: %v %v", err, gm)
	}
	defer gm.Body.Close()
	got := make(chan time.Time, 16)
	go func() {
		r := mkv.NewReader(gm.Body, mkv.ReaderConfig{})
		for {
			ev, err := r.Next()
			if err != nil {
				close(got)
				return
			}
			if ev == mkv.EventCluster {
				got <- time.Now()
			}
		}
	}()

	// Then one PutMedia, fed a Cluster at a time.
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/putMedia", pr)
	req.Header.Set("x-amzn-stream-name", "bench")
	req.Header.Set("x-amzn-fragment-timecode-type", "RELATIVE")
	// The fragments are 40 ms of media apart but sent faster than that:
	// start far enough in the past that none is in the future (4007).
	start := time.Now().Add(-time.Duration(b.N) * 40 * time.Millisecond)
	req.Header.Set("x-amzn-producer-start-timestamp", strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64))
	sign(req, nil)
	putDone := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		putDone <- err
	}()
	w, err := mkv.NewWriter(pw, mkv.WriterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.WriteHeaderRaw(tracks); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	var cluster []byte
	b.ResetTimer()
	for i := range b.N {
		c := src[i%len(src)]
		// Increasing timecodes, 40 ms apart.
		if cluster, err = mkv.AppendCluster(cluster[:0], uint64(i)*40, c.Frames); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := pw.Write(cluster); err != nil {
			b.Fatal(err)
		}
		select {
		case t1, ok := <-got:
			if !ok {
				b.Fatal("GetMedia ended")
			}
			lat = append(lat, t1.Sub(t0))
		case err := <-putDone:
			b.Fatalf("PutMedia ended: %v", err)
		case <-time.After(10 * time.Second):
			b.Fatal("fragment not received within 10 s")
		}
	}
	b.StopTimer()
	pw.Close()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
