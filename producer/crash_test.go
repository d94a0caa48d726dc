package producer

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/testserver"
)

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

	bin := testserver.Build(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	srv := testserver.StartProcess(t, bin, dir, addr, "--credentials", testAKID+":"+testSecret)

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
	srv.Kill()
	srv = testserver.StartProcess(t, bin, dir, addr, "--credentials", testAKID+":"+testSecret)
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
	srv.Stop(t)

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
