package producer

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/testserver"
	"github.com/openkvs/openkvs/media/mkv"
)

// BenchmarkProducerPersisted measures end-to-end single-stream throughput
// of the producer against a real openkvs on loopback: 64 KiB frames, a
// fragment per second of 25 fps video, offline mode, until every fragment
// is PERSISTED (fsync'ed by the archive).
func BenchmarkProducerPersisted(b *testing.B) {
	srv := testserver.Start(b, testserver.Options{Configure: noTURN})
	ctx := context.Background()
	if _, err := srv.KVS().CreateStream(ctx, &kinesisvideo.CreateStreamInput{
		StreamName: aws.String("bench"), DataRetentionInHours: aws.Int32(1),
	}); err != nil {
		b.Fatal(err)
	}
	frame := make([]byte, 64<<10)
	_, _ = rand.Read(frame)
	p, err := Start(ctx, Config{
		AWS: srv.AWSConfig(srv.HTTPURL), StreamName: "bench", Offline: true,
		StartTime: time.Now().Add(-time.Hour),
		Tracks:    []Track{{Track: mkv.Track{Number: 1, Type: mkv.TrackTypeVideo, CodecID: CodecH264, CodecPrivate: []byte{1, 0x64, 0, 0x1f, 0xff, 0xe0, 0}}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for i := range b.N {
		if err := p.PutFrame(ctx, Frame{Track: 1, PTS: time.Duration(i) * 40 * time.Millisecond, KeyFrame: i%25 == 0, Data: frame}); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	st := p.Stats()
	b.ReportMetric(float64(st.FragmentsPersisted)/b.Elapsed().Seconds(), "fragments/s")
	if st.FramesDropped != 0 {
		b.Fatalf("stats %+v", st)
	}
}
