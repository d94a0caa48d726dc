package playback

import (
	"bytes"
	"encoding/binary"
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

	"github.com/openkvs/openkvs/media/fmp4"
)

func (e *env) clip(req map[string]any) (*http.Response, []byte) {
	e.t.Helper()
	b, _ := json.Marshal(req)
	resp, err := http.Post(e.srv.URL+"/getClip", "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, body
}

// TestGetClipWithFFprobe downloads clips of both test files and checks
// them with ffmpeg: a progressive MP4 with the moov first, every frame of
// the range in it with its bytes, and nothing else.
func TestGetClipWithFFprobe(t *testing.T) {
	needFFmpeg(t)
	for _, file := range []string{h264AAC, h265Opus} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			e := newEnv(t, false)
			e.createStream("cam", 24)
			tf := loadFile(t, file)
			base := e.clock().Add(-time.Hour)
			fs := e.putAll("cam", tf, base)
			// Fragments 1 and 2 start in the range.
			resp, body := e.clip(map[string]any{"StreamName": "cam", "ClipFragmentSelector": rangeSelector("PRODUCER_TIMESTAMP", fs[1].ProducerTime, fs[2].ProducerTime)})
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp4" {
				t.Fatalf("GetClip: %d %s", resp.StatusCode, body[:min(len(body), 300)])
			}
			if resp.ContentLength != int64(len(body)) {
				t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
			}
			if string(body[4:8]) != "ftyp" || !bytes.Contains(body[:4096], []byte("moov")) || bytes.Index(body, []byte("moov")) > bytes.Index(body, []byte("mdat")) {
				t.Fatal("clip does not start with ftyp and moov before mdat")
			}
			path := filepath.Join(t.TempDir(), "clip.mp4")
			if err := os.WriteFile(path, body, 0o644); err != nil {
				t.Fatal(err)
			}
			out := ffmpegFramecrc(t, path)
			// The clip's timeline starts at zero; compare relative to
			// the first fragment.
			in := tf.frames(base, 1, 3)
			first := in[0].pts
			for _, f := range in {
				first = min(first, f.pts)
			}
			mh, err := parseHeader(tf.header)
			if err != nil {
				t.Fatal(err)
			}
			for i := range in {
				in[i].pts -= first
				// Opus priming: the edit list starts the track
				// pre-skip samples late (RFC 7845 §4.2).
				if tr := mh.tracks[mh.track(in[i].track)].track; tr.Codec == fmp4.Opus {
					in[i].pts -= int64(binary.LittleEndian.Uint16(tr.CodecPrivate[10:])) * 1e9 / 48000
				}
			}
			checkFrames(t, in, out, true)
			// ffprobe agrees on the container.
			cmd := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=format_name,duration", "-of", "default=nw=1", path)
			info, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(info), "mp4") {
				t.Errorf("ffprobe: %v %s", err, info)
			}
			if d := durationOf(string(info)); d < 1.9 || d > 2.2 {
				t.Errorf("clip lasts %.3f s, want about 2:\n%s", d, info)
			}
		})
	}
}

func durationOf(info string) float64 {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(l, "duration="); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestGetClipLimits: a clip stops at 200 fragments, as KVS' does.
func TestGetClipLimits(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	tf := loadFile(t, h264AAC)
	base := e.clock().Add(-time.Hour)
	// 210 one-second fragments: the four clusters over and over, each
	// lap 5 s later.
	for i := range 210 {
		e.put("cam", tf, i%4, base.Add(time.Duration(i/4)*5*time.Second))
	}
	resp, body := e.clip(map[string]any{"StreamName": "cam", "ClipFragmentSelector": rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(time.Hour))})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GetClip: %d %s", resp.StatusCode, body[:min(len(body), 300)])
	}
	var want int
	for i := range 200 {
		for _, f := range tf.clusters[i%4].frames {
			want += f.size
		}
	}
	// The media is exactly that of the first 200 fragments: body minus
	// the header (ftyp + moov + mdat header).
	mdat := bytes.Index(body, []byte("mdat"))
	if got := len(body) - mdat - 4; got != want {
		t.Errorf("clip carries %d bytes of media, the first 200 fragments have %d", got, want)
	}
}

func TestGetClipErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createStream("cam", 24)
	e.createStream("noretention", 0)
	tf := loadFile(t, h264AAC)
	base := e.clock().Add(-time.Hour)
	e.putAll("cam", tf, base)
	// A producer reconnecting with other codec private data.
	other := loadFile(t, h265Opus)
	e.put("cam", other, 0, base.Add(time.Minute))
	sel := rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(10*time.Second))
	for _, tc := range []struct {
		name   string
		req    map[string]any
		status int
		code   string
	}{
		{"unknown stream", map[string]any{"StreamName": "nope", "ClipFragmentSelector": sel}, 404, "ResourceNotFoundException"},
		{"no selector", map[string]any{"StreamName": "cam"}, 400, "InvalidArgumentException"},
		{"no selector type", map[string]any{"StreamName": "cam", "ClipFragmentSelector": map[string]any{"TimestampRange": sel["TimestampRange"]}}, 400, "InvalidArgumentException"},
		{"no range", map[string]any{"StreamName": "cam", "ClipFragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP"}}, 400, "InvalidArgumentException"},
		{"end before start", map[string]any{"StreamName": "cam", "ClipFragmentSelector": rangeSelector("SERVER_TIMESTAMP", base, base.Add(-time.Second))}, 400, "InvalidArgumentException"},
		{"range over 24 h", map[string]any{"StreamName": "cam", "ClipFragmentSelector": rangeSelector("SERVER_TIMESTAMP", base, base.Add(24*time.Hour+time.Second))}, 400, "InvalidArgumentException"},
		{"no fragments in range", map[string]any{"StreamName": "cam", "ClipFragmentSelector": rangeSelector("PRODUCER_TIMESTAMP", base.Add(-2*time.Hour), base.Add(-time.Hour))}, 404, "ResourceNotFoundException"},
		{"codec change in range", map[string]any{"StreamName": "cam", "ClipFragmentSelector": rangeSelector("PRODUCER_TIMESTAMP", base, base.Add(2*time.Minute))}, 400, "InvalidCodecPrivateDataException"},
		{"no retention", map[string]any{"StreamName": "noretention", "ClipFragmentSelector": sel}, 400, "NoDataRetentionException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.clip(tc.req)
			if resp.StatusCode != tc.status || resp.Header.Get("x-amzn-ErrorType") != tc.code {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
		})
	}
}
