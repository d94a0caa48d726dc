package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testserver"
)

// mediaEnv points the AWS config loader at a test server and nothing else.
func mediaEnv(t *testing.T) *testserver.Server {
	t.Helper()
	srv := testserver.Start(t, testserver.Options{Configure: func(c *config.Config) { c.TURN.Enabled = false }})
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
		"AWS_CA_BUNDLE":               "",
	} {
		t.Setenv(k, v)
	}
	return srv
}

func run(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, bytes.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func makeMedia(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	path := filepath.Join(t.TempDir(), name)
	all := append([]string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"}, args...)
	if b, err := exec.Command("ffmpeg", append(all, path)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return path
}

// probeFrames returns the frames ffprobe decodes per stream, e.g.
// ["h264:75", "aac:131"].
func probeFrames(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var s []string
	for _, l := range strings.Fields(string(out)) {
		s = append(s, strings.Replace(l, ",", ":", 1))
	}
	return s
}

// TestPutMediaGetMedia sends ffmpeg-made media with put-media from each
// kind of input and reads it back with get-media: ffprobe decodes the same
// frames from the GetMedia output as from the input.
func TestPutMediaGetMedia(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and ffmpeg")
	}
	srv := mediaEnv(t)
	mkvFile := makeMedia(t, "in.mkv", "-f", "lavfi", "-i", "sine", "-t", "3", "-c:v", "libx264", "-g", "25", "-c:a", "aac")
	h264File := makeMedia(t, "in.h264", "-t", "2", "-c:v", "libx264", "-g", "25", "-bf", "0")
	h265File := makeMedia(t, "in.bin", "-t", "2", "-c:v", "libx265", "-x265-params", "keyint=25:min-keyint=25:bframes=0:log-level=error", "-f", "hevc")
	// Longer than the service lets producer timestamps run ahead of its
	// clock: put-media dates a file so that it ends now.
	longFile := makeMedia(t, "long.h264", "-t", "15", "-s", "160x120", "-c:v", "libx264", "-g", "25", "-bf", "0")
	stdin, err := os.ReadFile(mkvFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		args      []string
		stdin     []byte
		fragments int
		want      []string
	}{
		{"mkv file", []string{mkvFile}, nil, 3, probeFrames(t, mkvFile)},
		{"annexb h264", []string{"--metadata", "site=lab-7", h264File}, nil, 2, []string{"h264:50"}},
		{"annexb h265 with --codec and --fps", []string{"--codec", "h265", "--fps", "25", h265File}, nil, 2, []string{"hevc:50"}},
		{"stdin", []string{"-"}, stdin, 3, probeFrames(t, mkvFile)},
		{"15 s file sent at once", []string{longFile}, nil, 15, []string{"h264:375"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stream := strings.ReplaceAll(tt.name, " ", "-")
			args := append([]string{"put-media", "--stream", stream, "--create", "--quiet"}, tt.args...)
			_, stderr, code := run(t, tt.stdin, args...)
			if code != 0 {
				t.Fatalf("put-media exit %d: %s", code, stderr)
			}
			if want := strconv.Itoa(tt.fragments) + " fragments persisted, 0 frames dropped"; !strings.Contains(stderr, want) {
				t.Errorf("put-media said %q, want %q", stderr, want)
			}
			out := filepath.Join(t.TempDir(), "out.mkv")
			_, stderr, code = run(t, nil, "get-media", "--stream", stream, "--start-selector", "EARLIEST",
				"--max-fragments", strconv.Itoa(tt.fragments), "--out", out)
			if code != 0 {
				t.Fatalf("get-media exit %d: %s", code, stderr)
			}
			if got := probeFrames(t, out); strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("GetMedia output decodes to %v, the input to %v", got, tt.want)
			}
			if strings.Contains(strings.Join(tt.args, " "), "site=lab-7") {
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if n := bytes.Count(b, []byte("lab-7")); n != tt.fragments {
					t.Errorf("the metadata is in %d chunks of the GetMedia output, want %d", n, tt.fragments)
				}
			}
		})
	}

	t.Run("https with --ca-bundle", func(t *testing.T) {
		tlsFlags := []string{"--endpoint-url", srv.HTTPSURL, "--ca-bundle", srv.CAPath()}
		_, stderr, code := run(t, nil, append([]string{"put-media", "--stream", "tls", "--create", "--quiet", h264File}, tlsFlags...)...)
		if code != 0 || !strings.Contains(stderr, "2 fragments persisted") {
			t.Fatalf("put-media exit %d: %s", code, stderr)
		}
		out := filepath.Join(t.TempDir(), "out.mkv")
		_, stderr, code = run(t, nil, append([]string{"get-media", "--stream", "tls", "--start-selector", "EARLIEST", "--max-fragments", "2", "--out", out}, tlsFlags...)...)
		if code != 0 {
			t.Fatalf("get-media exit %d: %s", code, stderr)
		}
		if got := probeFrames(t, out); strings.Join(got, " ") != "h264:50" {
			t.Errorf("GetMedia output decodes to %v", got)
		}
	})

	t.Run("--failover-endpoint-url past a dead endpoint, --acks", func(t *testing.T) {
		if _, stderr, code := run(t, nil, "stream", "create", "failover"); code != 0 {
			t.Fatalf("stream create: %s", stderr)
		}
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close() // nothing listens there any more, as after a node's kill -9
		acks := filepath.Join(t.TempDir(), "acks.jsonl")
		_, stderr, code := run(t, nil, "put-media", "--stream", "failover", "--quiet", "--endpoint-url", dead.URL,
			"--failover-endpoint-url", srv.HTTPURL, "--acks", acks, h264File)
		if code != 0 || !strings.Contains(stderr, "2 fragments persisted") {
			t.Fatalf("put-media exit %d: %s", code, stderr)
		}
		b, err := os.ReadFile(acks)
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(b, []byte(`"EventType":"PERSISTED"`)); n != 2 {
			t.Errorf("--acks file holds %d PERSISTED acks, want 2:\n%s", n, b)
		}
	})

	t.Run("unknown stream", func(t *testing.T) {
		_, stderr, code := run(t, nil, "put-media", "--stream", "nope", "--quiet", h264File)
		if code == 0 || !strings.Contains(stderr, "ResourceNotFoundException") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}
