package producer

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
)

// serve is a real `openkvs serve` child process.
type serve struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startServe runs bin serve on dir at addr and waits until it listens.
func startServe(t *testing.T, bin, dir, addr string) *serve {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--listen", addr, "--tls-listen", "off",
		"--turn=false", "--credentials", testAKID+":"+testSecret, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serve{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), ": HTTP  ") {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.kill)
	select {
	case <-ready:
	case <-s.done:
		t.Fatal("openkvs serve exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("openkvs serve did not start listening")
	}
	return s
}

func (s *serve) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

func (s *serve) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("openkvs serve did not stop")
	}
}

// TestProducerSurvivesKill9 streams ffmpeg-made media to the real openkvs
// binary, kills it with SIGKILL while fragments are in flight, restarts it
// on the same data dir and address, and checks that the producer resumes
// and the archive ends up holding every frame exactly once.
func TestProducerSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the openkvs binary")
	}
	media := ffmpeg(t, "x.mkv", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
		"-t", "8", "-c:v", "libx264", "-g", "25", "-c:a", "aac")
	tracks, frames := sourceFrames(t, media)

	bin := filepath.Join(t.TempDir(), "openkvs")
	build := exec.Command("go", "build", "-o", bin, "../cmd/openkvs")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	srv := startServe(t, bin, dir, addr)

	awsCfg := aws.Config{
		Region: testRegion, BaseEndpoint: aws.String("http://" + addr),
		Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, ""),
	}
	ctx := context.Background()
	if _, err := kinesisvideo.NewFromConfig(awsCfg).CreateStream(ctx, &kinesisvideo.CreateStreamInput{
		StreamName: aws.String("cam1"), DataRetentionInHours: aws.Int32(24),
	}); err != nil {
		t.Fatal(err)
	}
	persisted := make(chan struct{}, 1000)
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	p, err := Start(ctx, Config{
		AWS: awsCfg, StreamName: "cam1", Tracks: tracks, StartTime: start,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		OnAck: func(a Ack) {
			if a.EventType == EventPersisted {
				persisted <- struct{}{}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	half := len(frames) * 5 / 8
	for _, f := range frames[:half] {
		if err := p.PutFrame(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		select {
		case <-persisted:
		case <-time.After(20 * time.Second):
			t.Fatalf("no PERSISTED ack; stats %+v", p.Stats())
		}
	}
	srv.kill()
	srv = startServe(t, bin, dir, addr)
	for _, f := range frames[half:] {
		if err := p.PutFrame(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Close(cctx); err != nil {
		t.Fatalf("Close: %v; stats %+v", err, p.Stats())
	}
	srv.stop(t)

	st := p.Stats()
	got, n := archivedFrames(t, dir, "cam1")
	for _, f := range frames {
		k := frameKey{f.Track, start.Add(f.PTS).UnixMilli(), string(f.Data)}
		if c := got[k]; c != 1 {
			t.Errorf("frame track %d at %v is in the archive %d times", f.Track, f.PTS, c)
		}
		delete(got, k)
	}
	for k, c := range got {
		t.Errorf("unexpected frame in the archive: track %d at %d ms ×%d", k.track, k.ms, c)
	}
	if st.Connections < 2 || st.FramesDropped != 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("%d frames in %d fragments; stats %+v", len(frames), n, st)
}
