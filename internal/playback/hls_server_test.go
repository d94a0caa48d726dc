package playback_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"

	"github.com/openkvs/openkvs/internal/testserver"
	"github.com/openkvs/openkvs/media/mkv"
)

// TestSessionsThroughServer runs a whole openkvs: a file goes in with
// PutMedia; a SigV4-signed GetHLSStreamingSessionURL, GetDASHStreamingSessionURL
// and GetClip on the data endpoint give URLs and a clip that ffmpeg plays
// with every frame, while the session resources themselves need no
// signature.
func TestSessionsThroughServer(t *testing.T) {
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed", p)
		}
	}
	data, err := os.ReadFile(filepath.Join("..", "ingest", "testdata", "h264_aac.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	want := packetsPerTrack(t, data)

	ctx := context.Background()
	srv := testserver.Start(t, testserver.Options{})
	kvs := srv.KVS()
	if _, err := kvs.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam"), DataRetentionInHours: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	ep, err := kvs.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("cam"), APIName: types.APINameGetHlsStreamingSessionUrl})
	if err != nil {
		t.Fatal(err)
	}
	base := aws.ToString(ep.DataEndpoint)
	client := srv.HTTPClient()
	cfg := srv.AWSConfig(base)
	sign := func(req *http.Request, body []byte) {
		sum := sha256.Sum256(body)
		creds, err := cfg.Credentials.Retrieve(req.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := v4.NewSigner().SignHTTP(req.Context(), creds, req, hex.EncodeToString(sum[:]), "kinesisvideo", cfg.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now().Add(-10 * time.Second).Truncate(time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/putMedia", bytes.NewReader(data))
	req.Header.Set("x-amzn-stream-name", "cam")
	req.Header.Set("x-amzn-fragment-timecode-type", "RELATIVE")
	req.Header.Set("x-amzn-producer-start-timestamp", strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64))
	sign(req, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	persisted := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"PERSISTED"`) {
			persisted++
		}
	}
	resp.Body.Close()
	if persisted != 4 {
		t.Fatalf("PutMedia: %d PERSISTED acks, want 4", persisted)
	}

	post := func(path string, v any, signed bool) (int, []byte) {
		t.Helper()
		body, _ := json.Marshal(v)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if signed {
			sign(req, body)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	sel := map[string]any{"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": map[string]any{
		"StartTimestamp": float64(start.Add(-time.Second).UnixMilli()) / 1000, "EndTimestamp": float64(start.Add(time.Minute).UnixMilli()) / 1000}}

	if status, body := post("/getHLSStreamingSessionURL", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": sel}, false); status != http.StatusForbidden {
		t.Errorf("unsigned GetHLSStreamingSessionURL: %d %s", status, body)
	}
	var hlsURL string
	for _, tc := range []struct{ op, member, kind string }{
		{"/getHLSStreamingSessionURL", "HLSStreamingSessionURL", "HLSFragmentSelector"},
		{"/getDASHStreamingSessionURL", "DASHStreamingSessionURL", "DASHFragmentSelector"},
	} {
		status, body := post(tc.op, map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", tc.kind: sel}, true)
		var out map[string]string
		if status != http.StatusOK || json.Unmarshal(body, &out) != nil || !strings.HasPrefix(out[tc.member], base+"/") {
			t.Fatalf("%s: %d %s", tc.op, status, body)
		}
		if tc.member == "HLSStreamingSessionURL" {
			hlsURL = out[tc.member]
		}
		got := ffprobePackets(t, out[tc.member])
		if tc.member == "DASHStreamingSessionURL" && got[1] == want[1]-1 {
			// ffmpeg's DASH demuxer (5.1) ends with the first
			// representation to end, losing the audio frame timed
			// after the last video frame (dash_test.go reads the
			// tracks one at a time to see them all).
			got[1]++
		}
		if !equalCounts(got, want) {
			t.Errorf("%s: ffprobe read %v packets per stream, %v went in", tc.op, got, want)
		}
	}
	status, clip := post("/getClip", map[string]any{"StreamName": "cam", "ClipFragmentSelector": sel}, true)
	if status != http.StatusOK {
		t.Fatalf("GetClip: %d %.300s", status, clip)
	}
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, clip, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := ffprobePackets(t, path); !equalCounts(got, want) {
		t.Errorf("GetClip: ffprobe read %v packets per stream, %v went in", got, want)
	}

	// The session key lives in the data dir: a session URL handed out
	// before a restart still plays after it.
	srv.Stop(t)
	srv2 := testserver.Start(t, testserver.Options{DataDir: srv.DataDir})
	ep2, err := srv2.KVS().GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("cam"), APIName: types.APINameGetHlsStreamingSessionUrl})
	if err != nil {
		t.Fatal(err)
	}
	again := aws.ToString(ep2.DataEndpoint) + strings.TrimPrefix(hlsURL, base)
	if got := ffprobePackets(t, again); !equalCounts(got, want) {
		t.Errorf("after a restart: ffprobe read %v packets per stream, %v went in", got, want)
	}
}

// packetsPerTrack counts the frames of each track of an MKV file.
func packetsPerTrack(t *testing.T, data []byte) []int {
	r := mkv.NewReader(bytes.NewReader(data), mkv.ReaderConfig{})
	counts := map[uint64]int{}
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if ev == mkv.EventCluster {
			for _, f := range r.Cluster().Frames {
				counts[f.Track]++
			}
		}
	}
	return []int{counts[1], counts[2]}
}

// ffprobePackets counts the packets of each stream ffprobe reads from url,
// failing on any error it reports.
func ffprobePackets(t *testing.T, url string) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "packet=stream_index", "-of", "csv=p=0", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(stderr.String()) != "" {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, stderr.String())
	}
	counts := []int{0, 0}
	for _, l := range strings.Fields(string(out)) {
		if i, err := strconv.Atoi(strings.TrimSuffix(l, ",")); err == nil && i < 2 {
			counts[i]++
		}
	}
	return counts
}

func equalCounts(a, b []int) bool { return len(a) == len(b) && a[0] == b[0] && a[1] == b[1] }
