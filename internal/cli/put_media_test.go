package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/media/h26x"
	"github.com/openkvs/openkvs/producer"
)

// collect runs src until it has yielded n frames (then cancels it) or
// ends, and returns the tracks and frames.
func collect(t *testing.T, src mediaSource, n int) ([]producer.Track, []producer.Frame) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var tracks []producer.Track
	var frames []producer.Frame
	err := src(ctx, func(tr []producer.Track) error {
		if tracks != nil {
			t.Error("start called twice")
		}
		tracks = tr
		return nil
	}, func(f producer.Frame) error {
		f.Data = bytes.Clone(f.Data) // it aliases the reader's buffer
		frames = append(frames, f)
		if len(frames) == n {
			cancel()
			return ctx.Err()
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return tracks, frames
}

// TestSourcesLoop checks that --loop repeats the input with timestamps
// that go on increasing, so every pass's key frames start new fragments.
func TestSourcesLoop(t *testing.T) {
	mkvPath := makeMedia(t, "in.mkv", "-f", "lavfi", "-i", "sine", "-t", "1", "-c:v", "libx264", "-g", "5", "-c:a", "aac")
	h264Path := makeMedia(t, "in.h264", "-t", "1", "-c:v", "libx264", "-g", "5", "-bf", "0")
	raw, err := os.ReadFile(h264Path)
	if err != nil {
		t.Fatal(err)
	}
	openMKV := func() (io.ReadCloser, error) { return os.Open(mkvPath) }

	for _, tt := range []struct {
		name     string
		src      mediaSource
		perPass  int
		tracks   int
		interval time.Duration // between the last frame of a pass and the next pass
	}{
		{"mkv", mkvSource(openMKV, true), 0, 2, 0},
		{"annexb", annexBSource(raw, "h264", 25, true), 25, 1, 40 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, once := collect(t, mkvSource(openMKV, false), -1)
			per := tt.perPass
			if per == 0 {
				per = len(once)
			}
			tracks, frames := collect(t, tt.src, 3*per)
			if len(tracks) != tt.tracks || len(frames) != 3*per {
				t.Fatalf("%d tracks, %d frames; want %d and %d", len(tracks), len(frames), tt.tracks, 3*per)
			}
			var lastKey time.Duration = -1
			keys := 0
			for i, f := range frames {
				if f.Track != 1 || !(f.KeyFrame || h26x.IsKeyFrameAnnexB(h26x.H264, f.Data)) {
					continue
				}
				if f.PTS <= lastKey {
					t.Fatalf("key frame %d at %v is not after the previous one at %v", i, f.PTS, lastKey)
				}
				lastKey = f.PTS
				keys++
			}
			if keys != 15 {
				t.Errorf("%d key frames in three passes of 5, want 15", keys)
			}
			// A pass's frames are the first pass's, shifted.
			for i := range per {
				a, b := frames[i], frames[per+i]
				if a.Track != b.Track || !bytes.Equal(a.Data, b.Data) || b.PTS <= a.PTS {
					t.Fatalf("frame %d of pass 2 differs from pass 1", i)
				}
			}
			if tt.interval > 0 {
				if d := frames[per].PTS - frames[per-1].PTS; d != tt.interval {
					t.Errorf("gap between passes %v, want %v", d, tt.interval)
				}
			}
		})
	}
}

func TestKeyFirst(t *testing.T) {
	_, frames := collect(t, mkvSource(func() (io.ReadCloser, error) {
		return os.Open(makeMedia(t, "a.mkv", "-f", "lavfi", "-i", "sine", "-t", "1", "-c:v", "libx264", "-g", "5", "-c:a", "aac"))
	}, false), -1)
	if len(frames) == 0 || frames[0].Track != 1 || !frames[0].KeyFrame {
		t.Fatalf("the first frame is not the video key frame: %+v", frames[0])
	}
}

// TestPutMediaRefusesMP4 gives put-media a real MP4 file, and the same
// bytes on stdin: it must fail before any request (the endpoint is a
// closed port) saying it needs Matroska and how to remux.
func TestPutMediaRefusesMP4(t *testing.T) {
	mp4 := makeMedia(t, "clip.mp4", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAOPENKVSTEST00001")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	data, err := os.ReadFile(mp4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		stdin []byte
		arg   string
		want  string
	}{
		{"file", nil, mp4, "ffmpeg -i " + mp4 + " -c copy -f matroska clip.mkv"},
		{"stdin", data, "-", "ffmpeg -i in.mp4 -c copy -f matroska in.mkv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, tc.stdin, "put-media", "--stream", "cam", "--create", tc.arg)
			if code == 0 || !strings.Contains(stderr, "Matroska") || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "127.0.0.1:1") {
				t.Fatalf("exit %d, stderr:\n%s\nwant a failure before any request, naming Matroska and %q", code, stderr, tc.want)
			}
		})
	}
}
