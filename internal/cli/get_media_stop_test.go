package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// getMediaSaid returns the fragment count get-media reported on stderr.
func getMediaSaid(t *testing.T, stderr string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(stderr[strings.Index(stderr, "get-media: "):], "get-media: %d fragments", &n); err != nil {
		t.Fatalf("get-media said %q", stderr)
	}
	return n
}

// TestGetMediaStops checks that each of get-media's stops ends a read that
// GetMedia would otherwise keep open at the live edge, after the expected
// fragments: the stream holds four one-second fragments sent by put-media,
// and get-media reads from EARLIEST.
func TestGetMediaStops(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and ffmpeg")
	}
	mediaEnv(t)
	file := makeMedia(t, "in.h264", "-t", "4", "-s", "160x120", "-c:v", "libx264", "-g", "25", "-bf", "0")
	put := func(t *testing.T, stream string) {
		t.Helper()
		if _, stderr, code := run(t, nil, "put-media", "--stream", stream, "--create", "--quiet", file); code != 0 || !strings.Contains(stderr, "4 fragments persisted") {
			t.Fatalf("put-media exit %d: %s", code, stderr)
		}
	}
	for _, tt := range []struct {
		name string
		args []string
		want int
	}{
		{"fragments", []string{"--start-selector", "EARLIEST", "--fragments", "2"}, 2},
		{"max-fragments", []string{"--start-selector", "EARLIEST", "--max-fragments", "1"}, 1},
		{"duration", []string{"--start-selector", "EARLIEST", "--duration", "2500ms"}, 3},
		{"duration whole stream", []string{"--start-selector", "EARLIEST", "--duration", "4s"}, 4},
		{"until-now", []string{"--start-selector", "EARLIEST", "--until-now"}, 4},
		{"until-now from NOW", []string{"--until-now"}, 1},
		{"timeout", []string{"--timeout", "300ms"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stream := "stop-" + strings.ReplaceAll(tt.name, " ", "-")
			put(t, stream)
			out := filepath.Join(t.TempDir(), "out.mkv")
			_, stderr, code := run(t, nil, append([]string{"get-media", "--stream", stream, "--out", out}, tt.args...)...)
			if code != 0 {
				t.Fatalf("get-media exit %d: %s", code, stderr)
			}
			if n := getMediaSaid(t, stderr); n != tt.want {
				t.Errorf("%d fragments, want %d", n, tt.want)
			}
			if got, want := probeFrames(t, out), "h264:"+strconv.Itoa(25*tt.want); strings.Join(got, " ") != want {
				t.Errorf("output decodes to %v, want %s", got, want)
			}
		})
	}

	// Fragments that arrive after GetMedia answered are not read: a second
	// put-media starts once the first chunk is out.
	t.Run("until-now with a live producer", func(t *testing.T) {
		put(t, "stop-live")
		fifo := filepath.Join(t.TempDir(), "out.mkv")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		type result struct {
			stderr string
			code   int
		}
		done := make(chan result, 1)
		go func() {
			_, stderr, code := run(t, nil, "get-media", "--stream", "stop-live", "--start-selector", "EARLIEST", "--until-now", "--out", fifo)
			done <- result{stderr, code}
		}()
		f, err := os.Open(fifo)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		first := make([]byte, 1)
		if _, err := io.ReadFull(f, first); err != nil {
			t.Fatalf("no output: %v", err)
		}
		put(t, "stop-live")
		if _, err := io.Copy(io.Discard, f); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.code != 0 {
			t.Fatalf("get-media exit %d: %s", r.code, r.stderr)
		}
		if n := getMediaSaid(t, r.stderr); n != 4 {
			t.Errorf("%d fragments, want the 4 there were when GetMedia answered", n)
		}
	})
}
