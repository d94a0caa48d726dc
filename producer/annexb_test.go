package producer

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/media/h26x"
	"github.com/openkvs/openkvs/media/mkv"
)

// ffmpeg runs ffmpeg with args and returns the output file's bytes.
func ffmpeg(t *testing.T, out string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	path := filepath.Join(t.TempDir(), out)
	cmd := exec.Command("ffmpeg", append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...), path)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnnexBStream sends ffmpeg-made raw H.264 and H.265 streams: access
// units are split, key frames found, codec private data and picture size
// built from the parameter sets, and ffprobe decodes what was sent.
func TestAnnexBStream(t *testing.T) {
	for _, tt := range []struct {
		name    string
		codecID string
		codec   h26x.Codec
		args    []string
	}{
		{"h264", CodecH264, h26x.H264, []string{"-c:v", "libx264", "-g", "10", "-bf", "0", "-f", "h264"}},
		{"h265", CodecH265, h26x.H265, []string{"-c:v", "libx265", "-x265-params", "keyint=10:min-keyint=10:bframes=0:log-level=error", "-f", "hevc"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := ffmpeg(t, "x."+tt.name, append([]string{"-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "2"}, tt.args...)...)
			aus := AccessUnits(tt.codec, raw)
			if len(aus) != 50 {
				t.Fatalf("%d access units, want 50", len(aus))
			}
			fake, srv := newFake(t, nil)
			cfg := testConfig(srv.URL)
			cfg.Tracks = []Track{{Track: mkv.Track{Number: 1, Type: mkv.TrackTypeVideo, CodecID: tt.codecID}, AnnexB: true}}
			p, err := Start(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, au := range aus {
				if err := p.PutFrame(context.Background(), Frame{Track: 1, PTS: time.Duration(i) * 40 * time.Millisecond, Data: au}); err != nil {
					t.Fatal(err)
				}
			}
			if err := closeWithin(t, p); err != nil {
				t.Fatal(err)
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if len(fake.stored) != 5 {
				t.Errorf("%d fragments, want 5 (a key frame every 10 frames)", len(fake.stored))
			}
			tr := fake.tracks.Entries[0]
			if tt.codec == h26x.H264 {
				if _, err := h26x.ParseAVCDecoderConfig(tr.CodecPrivate); err != nil {
					t.Errorf("CodecPrivate: %v", err)
				}
			} else if _, err := h26x.ParseHEVCDecoderConfig(tr.CodecPrivate); err != nil {
				t.Errorf("CodecPrivate: %v", err)
			}
			if tr.Video == nil || tr.Video.PixelWidth != 160 || tr.Video.PixelHeight != 120 {
				t.Errorf("video %+v, want 160x120", tr.Video)
			}
			frames := 0
			for _, c := range fake.stored {
				for i := range c.Frames {
					fr := &c.Frames[i]
					if _, err := h26x.SplitAVCC(fr.Data); err != nil {
						t.Errorf("frame is not length-prefixed: %v", err)
					}
					if fr.Keyframe != (i == 0) {
						t.Errorf("frame %d of cluster %d: keyframe %v", i, c.Timecode, fr.Keyframe)
					}
					frames++
				}
			}
			if frames != 50 {
				t.Errorf("%d frames stored, want 50", frames)
			}
			if n := ffprobeFrames(t, fake.body.Bytes()); n != 50 {
				t.Errorf("ffprobe decoded %d frames, want 50", n)
			}
		})
	}
}

// ffprobeFrames returns how many video frames ffprobe decodes from an MKV
// stream.
func ffprobeFrames(t *testing.T, mkvData []byte) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sent.mkv")
	if err := os.WriteFile(path, mkvData, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	var n int
	for _, c := range strings.TrimSpace(string(bytes.TrimSpace(out))) {
		if c < '0' || c > '9' {
			t.Fatalf("ffprobe said %q", out)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
