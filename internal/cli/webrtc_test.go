package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/testinfra"
	"github.com/openkvs/openkvs/internal/testserver"
	"github.com/openkvs/openkvs/kvswebrtc/sample"
)

// TestMasterViewerCommands runs openkvs master and openkvs viewer against
// a test server, both creating the channel if need be, for each codec
// (built-in samples, and H.265 read from standard input): the viewer stops
// after 30 frames, reports its first frame, and the files it wrote decode
// with ffprobe.
func TestMasterViewerCommands(t *testing.T) {
	tests := []struct {
		codec, out, probe string
		stdin             string // a sample the master reads from standard input
	}{
		{codec: "h264", out: "got.h264", probe: "h264"},
		{codec: "h265", out: "got.h265", probe: "hevc"},
		{codec: "vp8", out: "got.ivf", probe: "vp8"},
		{codec: "h264", out: "got.mkv", probe: "h264"},
		{codec: "h265", out: "got.h265", probe: "hevc", stdin: sample.H265},
	}
	for _, tt := range tests {
		t.Run(tt.out+tt.stdin, func(t *testing.T) {
			webrtcEnv(t)
			ctx, cancel := context.WithCancel(context.Background())
			var mout, merr testinfra.Buffer
			margs := []string{"master", "cam-" + tt.codec, "--create", "--loopback-only", "--codec", tt.codec, "--stats-interval", "0"}
			var stdin []byte
			if tt.stdin != "" {
				b, err := sample.Bytes(tt.stdin)
				if err != nil {
					t.Fatal(err)
				}
				// 10 s of stream (Annex-B concatenates), not looped: the
				// viewer joins while it plays.
				stdin = bytes.Repeat(b, 5)
				margs = append(margs, "--video", "-")
			}
			root := newRootCmd(streams{in: bytes.NewReader(stdin), out: &mout, err: &merr})
			root.SetArgs(margs)
			masterDone := make(chan error, 1)
			go func() { masterDone <- root.ExecuteContext(ctx) }()
			t.Cleanup(func() {
				cancel()
				select {
				case err := <-masterDone:
					if err != nil {
						t.Errorf("master: %v\n%s", err, merr.String())
					}
				case <-time.After(20 * time.Second):
					t.Error("master did not stop")
				}
			})
			dir := t.TempDir()
			video, audio := filepath.Join(dir, tt.out), filepath.Join(dir, "got.ogg")
			args := []string{"viewer", "cam-" + tt.codec, "--create", "--loopback-only", "--frames", "30",
				"--duration", "30s", "--out", video, "--stats-interval", "0"}
			mkv := strings.HasSuffix(tt.out, ".mkv")
			if !mkv {
				args = append(args, "--out-audio", audio)
			}
			stdout, stderr, code := runCLI(args...)
			if code != 0 {
				t.Fatalf("viewer exit %d\nstdout: %s\nstderr: %s\nmaster: %s", code, stdout, stderr, merr.String())
			}
			m := regexp.MustCompile(`video [^ ]+: (\d+) frames`).FindStringSubmatch(stdout)
			if !strings.Contains(stdout, "first frame after") || m == nil {
				t.Fatalf("viewer output: %s", stdout)
			}
			if n, _ := strconv.Atoi(m[1]); n < 30 {
				t.Errorf("viewer got %d frames, want 30", n)
			}
			got := probeFrames(t, video)
			if mkv {
				if len(got) != 2 || !strings.HasPrefix(got[1], "opus:") || got[1] == "opus:0" {
					t.Errorf("ffprobe of %s: %v, want opus in the second track", tt.out, got)
				}
				got, audio = got[:1], ""
			}
			if len(got) != 1 || !strings.HasPrefix(got[0], tt.probe+":") || got[0] == tt.probe+":0" {
				t.Errorf("ffprobe of %s: %v, want %s frames", tt.out, got, tt.probe)
			}
			if audio == "" {
				return
			}
			if a := probeFrames(t, audio); len(a) != 1 || !strings.HasPrefix(a[0], "opus:") || a[0] == "opus:0" {
				t.Errorf("ffprobe of the audio: %v", a)
			}
		})
	}
}

// webrtcEnv points the AWS config loader at a test server (and its CA)
// and nothing else.
func webrtcEnv(t *testing.T) *testserver.Server {
	t.Helper()
	srv := testserver.Start(t, testserver.Options{})
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           testserver.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":       testserver.SecretAccessKey,
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  testserver.Region,
		"AWS_ENDPOINT_URL":            srv.HTTPURL,
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CA_BUNDLE":               srv.CAPath(),
	} {
		t.Setenv(k, v)
	}
	return srv
}

func runCLI(args ...string) (stdout, stderr string, code int) {
	var out, errOut testinfra.Buffer
	code = Main(args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}
