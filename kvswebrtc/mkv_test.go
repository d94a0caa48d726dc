package kvswebrtc

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkvs/openkvs/internal/testserver"
)

// TestMKVRecorder records what a Viewer receives into Matroska and checks
// with ffprobe that both tracks decode, for each video codec the recorder
// holds.
func TestMKVRecorder(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("no ffprobe")
	}
	for _, tt := range []struct{ video, probe string }{
		{"sample.h264", "h264"}, {"sample.h265", "hevc"}, {"sample.ivf", "vp8"},
	} {
		t.Run(tt.probe, func(t *testing.T) {
			r := newRig(t, testserver.Options{})
			m, err := NewMaster(MasterConfig{
				Signaling:     r.signaling(RoleMaster, "", nil),
				Peer:          loopPeer(t),
				Video:         sampleSource(t, tt.video),
				Audio:         sampleSource(t, "sample.ogg"),
				StatsInterval: -1,
				Logger:        testLogger(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			goRun(t, m.Run)
			path := filepath.Join(t.TempDir(), "got.mkv")
			rec, err := NewMKVRecorder(path, true, true)
			if err != nil {
				t.Fatal(err)
			}
			v, err := NewViewer(ViewerConfig{
				Signaling:     r.signaling(RoleViewer, "rec", nil),
				Peer:          loopPeer(t),
				VideoOut:      rec.Video(),
				AudioOut:      rec.Audio(),
				MaxFrames:     40,
				StatsInterval: -1,
				Logger:        testLogger(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testWait)
			defer cancel()
			if err := v.Run(ctx); err != nil {
				t.Fatalf("Run: %v", err)
			}
			cmd := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", path)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, stderr.String())
			}
			if stderr.Len() > 0 {
				t.Errorf("ffprobe reports decoding problems: %s", stderr.String())
			}
			streams := strings.Fields(string(out))
			if len(streams) != 2 || !strings.HasPrefix(streams[0], tt.probe+",") || !strings.HasPrefix(streams[1], "opus,") ||
				strings.HasSuffix(streams[0], ",0") || strings.HasSuffix(streams[1], ",0") {
				t.Errorf("ffprobe streams %q, want %s and opus frames", streams, tt.probe)
			}
			t.Logf("ffprobe: %v", streams)
		})
	}
}
