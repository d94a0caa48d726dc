package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/testserver"
)

// serverEndpoint creates a stream with the real SDK and returns its
// PUT_MEDIA data endpoint.
func serverEndpoint(t testing.TB, srv *testserver.Server, name string, retentionHours int32) string {
	t.Helper()
	ctx := context.Background()
	kvs := srv.KVS()
	if _, err := kvs.CreateStream(ctx, &kinesisvideo.CreateStreamInput{
		StreamName: aws.String(name), DataRetentionInHours: aws.Int32(retentionHours), MediaType: aws.String("video/h264"),
	}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	ep, err := kvs.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String(name), APIName: types.APINamePutMedia})
	if err != nil {
		t.Fatalf("GetDataEndpoint: %v", err)
	}
	return aws.ToString(ep.DataEndpoint)
}

// serverKey is the test server's access key.
var serverKey = [2]string{testserver.AccessKeyID, testserver.SecretAccessKey}

// TestPutMediaServer is PutMedia through a whole openkvs: the stream is
// created and its data endpoint found with the real aws-sdk-go-v2 client,
// the upload goes to that endpoint over HTTPS, and after the server stopped
// its data dir holds every frame.
func TestPutMediaServer(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	for _, tf := range testFiles {
		ep := serverEndpoint(t, srv, tf.name, 2)
		src := readSource(t, readFile(t, tf.path))
		s := startPutMedia(t, srv.HTTPClient(), ep, putOptions{name: tf.name, key: serverKey})
		if s.status != 200 {
			t.Fatalf("%s: status %d: %s", tf.name, s.status, s.errMsg)
		}
		sendAll(t, s, src.data, 16<<10)
		checkFragmentAcks(t, s.rest(), src, "BUFFERING", "RECEIVED", "PERSISTED")
	}

	// Unknown stream: 404 ResourceNotFoundException before any ack.
	s := startPutMedia(t, srv.HTTPClient(), srv.HTTPSURL, putOptions{name: "nope", key: serverKey})
	if s.status != 404 || s.resp.Header.Get("x-amzn-ErrorType") != "ResourceNotFoundException" {
		t.Errorf("unknown stream: status %d, type %q: %s", s.status, s.resp.Header.Get("x-amzn-ErrorType"), s.errMsg)
	}

	srv.Stop(t)
	arch, err := archive.Open(archive.Config{Dir: srv.DataDir, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer arch.Close()
	for _, tf := range testFiles {
		src := readSource(t, readFile(t, tf.path))
		frags := storedFragments(t, arch, tf.name)
		if len(frags) != len(src.clusters) {
			t.Fatalf("%s: %d fragments on disk, want %d", tf.name, len(frags), len(src.clusters))
		}
		for i, f := range frags {
			got, _ := decodeStored(t, arch, tf.name, f)
			checkFrames(t, tf.name, got, src.clusters[i])
		}
	}
}

// TestPutMediaShutdown checks that a graceful shutdown ends PutMedia
// connections instead of waiting for producers that never stop.
func TestPutMediaShutdown(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	ep := serverEndpoint(t, srv, "sd", 1)
	s := startPutMedia(t, srv.HTTPClient(), ep, putOptions{name: "sd", key: serverKey})
	_ = s.write(clusters(t, 1, 0))
	expectEvents(t, []ack{mustNext(t, s), mustNext(t, s), mustNext(t, s)}, "BUFFERING", "RECEIVED", "PERSISTED")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a PutMedia open: %v", err)
	}
	s.waitEnd()
}
