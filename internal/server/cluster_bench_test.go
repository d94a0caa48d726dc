package server_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testinfra/natstest"
	"github.com/openkvs/openkvs/internal/testinfra/pgtest"
	"github.com/openkvs/openkvs/internal/testinfra/s3test"
	"github.com/openkvs/openkvs/internal/testserver"
	"github.com/openkvs/openkvs/media/mkv"
	"github.com/openkvs/openkvs/producer"
)

// Load of BenchmarkClusterIngest: streams × fragments of fragmentBytes
// (one-second fragments of 25 frames: 2 Mbit/s media sent as fast as the
// acks allow).
const (
	ingestStreams   = 24
	ingestFragments = 8
	ingestFrames    = 25
	fragmentBytes   = 250_000
)

// BenchmarkClusterIngest measures aggregate ingest throughput until
// PERSISTED: ingestStreams producers (the producer library, one PutMedia
// connection each, spread round robin over the nodes) each send
// ingestFragments fragments and wait for every PERSISTED ack. Variants:
// one node with the embedded archive, and cluster mode (PostgreSQL
// catalog and index, SeaweedFS objects, NATS bus) with one and with three
// nodes. Nodes, producers and the servers they use share the process'
// cores (and the machine's, with PostgreSQL and SeaweedFS). It reports
// MB/s of media persisted and the p50/p99 of each stream's time from its
// first frame to its last PERSISTED ack.
func BenchmarkClusterIngest(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		benchIngest(b, []*testserver.Server{testserver.Start(b, testserver.Options{Configure: noTURN})})
	})
	dsn := pgtest.Start(b)
	s3srv := s3test.Start(b)
	ns := natstest.Start(b, natstest.Options{})
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("cluster-%d-nodes", n), func(b *testing.B) {
			bucket := s3srv.NewBucket(b)
			schema := pgtest.NewSchema(b, dsn)
			var nodes []*testserver.Server
			for range n {
				nodes = append(nodes, clusterNode(b, dsn+"&search_path="+schema, s3srv, bucket, ns.URL()))
			}
			benchIngest(b, nodes)
		})
	}
}

func noTURN(c *config.Config) { c.TURN.Enabled = false }

// clusterNode starts a cluster-mode server without TURN: catalog and index
// in PostgreSQL at dsn, fragments in s3srv's bucket, the NATS bus at
// natsURL.
func clusterNode(b *testing.B, dsn string, s3srv *s3test.Server, bucket, natsURL string) *testserver.Server {
	return testserver.Start(b, testserver.Options{Configure: func(c *config.Config) {
		noTURN(c)
		c.Bus = natsURL
		c.Storage = config.StorageConfig{
			Catalog: dsn,
			Archive: "s3://" + bucket + "/kvs",
			S3:      config.S3Config{Endpoint: s3srv.Endpoint, Region: s3srv.Region, AccessKey: s3srv.AccessKeyID, SecretKey: s3srv.SecretAccessKey},
		}
	}})
}

var ingestRun atomic.Int64

func benchIngest(b *testing.B, nodes []*testserver.Server) {
	ctx := context.Background()
	tracks := []producer.Track{{Track: mkv.Track{Number: 1, Type: mkv.TrackTypeVideo, CodecID: producer.CodecH264,
		CodecPrivate: []byte{1, 0x64, 0, 0x1f, 0xff, 0xe0, 0}}}}
	frame := make([]byte, fragmentBytes/ingestFrames)
	_, _ = rand.Read(frame)
	var lat []time.Duration
	var bytes int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		run := ingestRun.Add(1)
		names := make([]string, ingestStreams)
		for i := range names {
			names[i] = fmt.Sprintf("bench-%d-%d", run, i)
			if _, err := nodes[i%len(nodes)].KVS().CreateStream(ctx, &kinesisvideo.CreateStreamInput{
				StreamName: aws.String(names[i]), DataRetentionInHours: aws.Int32(1),
			}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				node := nodes[i%len(nodes)]
				t0 := time.Now()
				p, err := producer.Start(ctx, producer.Config{
					AWS: node.AWSConfig(node.HTTPURL), DataEndpoint: node.HTTPURL, StreamName: name, Tracks: tracks,
					StartTime: t0.Add(-time.Hour), Offline: true,
				})
				if err != nil {
					b.Error(err)
					return
				}
				for f := range ingestFragments * ingestFrames {
					pts := time.Duration(f) * time.Second / ingestFrames
					if err := p.PutFrame(ctx, producer.Frame{Track: 1, PTS: pts, KeyFrame: f%ingestFrames == 0, Data: frame}); err != nil {
						b.Error(err)
						return
					}
				}
				cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				defer cancel()
				if err := p.Close(cctx); err != nil {
					b.Errorf("stream %s: %v", name, err)
					return
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				bytes += int64(ingestFragments * fragmentBytes)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(bytes)/1e6/b.Elapsed().Seconds(), "MB/s")
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-stream-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-stream-ms")
	}
}
