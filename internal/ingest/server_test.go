package ingest_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
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

// TestPutMediaProducerSigning sends PutMedia over a raw TCP connection the
// way the KVS C producer SDK does: a chunked body signed as empty, with
// connection, transfer-encoding and user-agent among the signed headers and
// no x-amz-content-sha256 header.
func TestPutMediaProducerSigning(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	serverEndpoint(t, srv, "raw", 1)
	src := readSource(t, readFile(t, "testdata/h264_aac.mkv"))
	host := strings.TrimPrefix(srv.HTTPURL, "http://")
	now := time.Now().UTC()
	amzDate := now.Format("20060102T150405Z")
	headers := [][2]string{
		{"connection", "keep-alive"},
		{"host", host},
		{"transfer-encoding", "chunked"},
		{"user-agent", "AWS-SDK-KVS-CPP-CLIENT/3.4.1 GCC/11.4.0 Linux/6.5.0 x86_64"},
		{"x-amz-date", amzDate},
		{"x-amzn-fragment-acknowledgment-required", "1"},
		{"x-amzn-fragment-timecode-type", "ABSOLUTE"},
		{"x-amzn-producer-start-timestamp", fmt.Sprintf("%d.000", now.Unix())},
		{"x-amzn-stream-name", "raw"},
	}
	var canon, names []string
	for _, h := range headers { // already sorted by name
		canon = append(canon, h[0]+":"+h[1]+"\n")
		names = append(names, h[0])
	}
	creq := "POST\n/putMedia\n\n" + strings.Join(canon, "") + "\n" + strings.Join(names, ";") + "\n" + awsapi.EmptyPayloadHash
	scope := amzDate[:8] + "/" + testserver.Region + "/kinesisvideo/aws4_request"
	sum := sha256.Sum256([]byte(creq))
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	mac := hmac.New(sha256.New, awsapi.DeriveSigningKey(testserver.SecretAccessKey, amzDate[:8], testserver.Region, "kinesisvideo"))
	mac.Write([]byte(sts))
	authz := fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%x",
		testserver.AccessKeyID, scope, strings.Join(names, ";"), mac.Sum(nil))

	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var req strings.Builder
	req.WriteString("POST /putMedia HTTP/1.1\r\n")
	for _, h := range headers {
		req.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	req.WriteString("Authorization: " + authz + "\r\n\r\n")
	if _, err := io.WriteString(nc, req.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	go func() { // the body, in chunks, while acks come back
		data := src.data
		for len(data) > 0 {
			n := min(5000, len(data))
			if _, err := fmt.Fprintf(nc, "%x\r\n%s\r\n", n, data[:n]); err != nil {
				return
			}
			data = data[n:]
		}
		_, _ = io.WriteString(nc, "0\r\n\r\n")
	}()
	s := &session{t: t, resp: resp, acks: make(chan ack, 64), done: make(chan struct{})}
	go s.readAcks()
	checkFragmentAcks(t, s.rest(), src, "BUFFERING", "RECEIVED", "PERSISTED")
}

// TestPutMediaDeleteStream deletes a stream with the SDK while its
// PutMedia is open: the producer gets ERROR 4008 and the connection ends.
func TestPutMediaDeleteStream(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	ep := serverEndpoint(t, srv, "doomed", 1)
	s := startPutMedia(t, srv.HTTPClient(), ep, putOptions{name: "doomed", key: serverKey})
	_ = s.write(clusters(t, 1, 0))
	expectEvents(t, []ack{mustNext(t, s), mustNext(t, s), mustNext(t, s)}, "BUFFERING", "RECEIVED", "PERSISTED")
	if _, err := srv.KVS().DeleteStream(context.Background(), &kinesisvideo.DeleteStreamInput{StreamARN: streamARN(t, srv, "doomed")}); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	acks := s.rest()
	if len(acks) != 1 || acks[0].EventType != "ERROR" || acks[0].errID() != 4008 {
		t.Fatalf("after DeleteStream: %s, want one ERROR 4008", rawAcks(acks))
	}
	// A new PutMedia for it is refused.
	if s := startPutMedia(t, srv.HTTPClient(), ep, putOptions{name: "doomed", key: serverKey}); s.status != 404 {
		t.Errorf("PutMedia on a deleted stream: status %d", s.status)
	}
}

func streamARN(t *testing.T, srv *testserver.Server, name string) *string {
	t.Helper()
	out, err := srv.KVS().DescribeStream(context.Background(), &kinesisvideo.DescribeStreamInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return out.StreamInfo.StreamARN
}
