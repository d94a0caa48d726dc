package server_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/testinfra/natstest"
	"github.com/openkvs/openkvs/internal/testinfra/pgtest"
	"github.com/openkvs/openkvs/internal/testinfra/s3test"
	"github.com/openkvs/openkvs/internal/testserver"
	"github.com/openkvs/openkvs/media/mkv"
	"github.com/openkvs/openkvs/producer"
)

// liveWarmup is how many fragments benchLive sends before it measures, so
// that a reader on another node follows the stream on the bus.
const liveWarmup = 10

// BenchmarkClusterLiveLatency measures live latency through whole servers
// over HTTP: from the moment a PutMedia connection is given a fragment (one
// Cluster, a 10 kB key frame 40 ms after the previous one) to the moment a
// GetMedia(NOW) reader has received that Cluster. Variants in one run: one
// embedded node; cluster mode (PostgreSQL catalog and index, SeaweedFS
// objects, NATS bus) with the reader on the producer's node, and on another
// node. Streams keep their fragments for an hour, so every fragment is also
// uploaded to the object store while it is served live.
func BenchmarkClusterLiveLatency(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		srv := testserver.Start(b, testserver.Options{Configure: noTURN})
		benchLive(b, srv, srv)
	})
	dsn := pgtest.Start(b)
	s3srv := s3test.Start(b)
	ns := natstest.Start(b, natstest.Options{})
	bucket := s3srv.NewBucket(b)
	a := clusterNode(b, dsn, s3srv, bucket, ns.URL())
	c := clusterNode(b, dsn, s3srv, bucket, ns.URL())
	b.Run("cluster-same-node", func(b *testing.B) { benchLive(b, a, a) })
	b.Run("cluster-cross-node", func(b *testing.B) { benchLive(b, a, c) })
}

// benchLive sends b.N fragments (after liveWarmup) to a new stream with
// PutMedia on put and reports the p50 and p99 of the time until a
// GetMedia(NOW) reader on get has each one.
func benchLive(b *testing.B, put, get *testserver.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := fmt.Sprintf("live-%d", ingestRun.Add(1))
	if _, err := put.KVS().CreateStream(ctx, &kinesisvideo.CreateStreamInput{
		StreamName: aws.String(stream), DataRetentionInHours: aws.Int32(1),
	}); err != nil {
		b.Fatal(err)
	}

	// The reader first, at NOW.
	body := startGetMedia(b, get, `{"StreamName":"`+stream+`","StartSelector":{"StartSelectorType":"NOW"}}`)
	got := make(chan time.Time, 16)
	go func() {
		defer close(got)
		r := mkv.NewReader(body, mkv.ReaderConfig{})
		for {
			ev, err := r.Next()
			if err != nil {
				return
			}
			if ev == mkv.EventCluster {
				got <- time.Now()
			}
		}
	}()

	// Then PutMedia, fed a Cluster at a time. The fragments are 40 ms of
	// media apart but sent faster: the producer's clock starts far enough
	// back that none is in the future.
	n := liveWarmup + b.N
	creds, err := put.AWSConfig(put.HTTPURL).Credentials.Retrieve(ctx)
	if err != nil {
		b.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, put.HTTPURL+"/putMedia", pr)
	req.Header.Set("x-amzn-stream-name", stream)
	req.Header.Set("x-amzn-fragment-timecode-type", "RELATIVE")
	start := time.Now().Add(-time.Duration(n)*40*time.Millisecond - time.Second)
	req.Header.Set("x-amzn-producer-start-timestamp", strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64))
	putDone := make(chan error, 1)
	go func() {
		acks := sendStreaming(b, creds, req, awsapi.EmptyPayloadHash)
		_, err := io.Copy(io.Discard, acks)
		putDone <- err
	}()
	w, err := mkv.NewWriter(pw, mkv.WriterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.WriteHeader([]mkv.Track{{Number: 1, Type: mkv.TrackTypeVideo, CodecID: producer.CodecH264,
		CodecPrivate: []byte{1, 0x64, 0, 0x1f, 0xff, 0xe0, 0}}}); err != nil {
		b.Fatal(err)
	}
	frame := make([]byte, 10_000)
	_, _ = rand.Read(frame)
	var cluster []byte
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range n {
		if i == liveWarmup {
			b.ResetTimer()
		}
		if cluster, err = mkv.AppendCluster(cluster[:0], uint64(i)*40, []mkv.Frame{{Track: 1, Keyframe: true, Data: frame}}); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := pw.Write(cluster); err != nil {
			b.Fatal(err)
		}
		select {
		case t1, ok := <-got:
			if !ok {
				b.Fatal("GetMedia ended")
			}
			if i >= liveWarmup {
				lat = append(lat, t1.Sub(t0))
			}
		case err := <-putDone:
			b.Fatalf("PutMedia ended: %v", err)
		case <-time.After(10 * time.Second):
			b.Fatalf("fragment %d not received within 10 s", i)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
