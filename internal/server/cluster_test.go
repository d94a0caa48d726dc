package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testinfra/natstest"
	"github.com/openkvs/openkvs/internal/testinfra/pgtest"
	"github.com/openkvs/openkvs/internal/testinfra/s3test"
	"github.com/openkvs/openkvs/internal/testserver"
)

// TestClusterArchiveSharedByNodes: two nodes on one PostgreSQL catalog
// and one SeaweedFS bucket. A producer's fragments, PERSISTED by node a,
// reach a GetMedia reader on node b that was waiting for them, are listed
// by node b and read back from it byte for byte.
func TestClusterArchiveSharedByNodes(t *testing.T) {
	a, b := twoNodes(t, "kvs", nil)

	ctx := context.Background()
	if _, err := a.KVS().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam"), DataRetentionInHours: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	media, err := os.ReadFile(filepath.Join("..", "ingest", "testdata", "h264_aac.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	// A GetMedia reader on node b waits at the (empty) stream's start
	// and follows what node a persists.
	follow := startGetMedia(t, b, `{"StreamName":"cam","StartSelector":{"StartSelectorType":"EARLIEST"}}`)
	_, persisted := putMedia(t, a, "cam", media)
	if len(persisted) == 0 {
		t.Fatal("no fragment PERSISTED")
	}
	var seen []byte
	buf := make([]byte, 64<<10)
	for _, n := range persisted {
		for !bytes.Contains(seen, []byte(n)) {
			k, err := follow.Read(buf)
			if err != nil {
				t.Fatalf("GetMedia on node b ended before fragment %s of node a: %v", n, err)
			}
			seen = append(seen, buf[:k]...)
		}
	}

	// Node b lists exactly those fragments.
	var list struct {
		Fragments []struct {
			FragmentNumber      string
			FragmentSizeInBytes int64
		}
	}
	now := time.Now()
	body := `{"StreamName":"cam","FragmentSelector":{"FragmentSelectorType":"SERVER_TIMESTAMP","TimestampRange":{"StartTimestamp":` +
		strconv.FormatInt(now.Add(-time.Hour).Unix(), 10) + `,"EndTimestamp":` + strconv.FormatInt(now.Add(time.Hour).Unix(), 10) + `}}}`
	resp := signedPost(t, b, "/listFragments", body)
	if err := json.Unmarshal(resp, &list); err != nil {
		t.Fatalf("ListFragments on node b: %v: %s", err, resp)
	}
	got := map[string]bool{}
	for _, f := range list.Fragments {
		got[f.FragmentNumber] = true
	}
	for _, n := range persisted {
		if !got[n] {
			t.Fatalf("node b does not list fragment %s PERSISTED by node a (lists %d)", n, len(list.Fragments))
		}
	}

	// The same media, read from each node, is the same bytes.
	nums, _ := json.Marshal(persisted)
	req := `{"StreamName":"cam","Fragments":` + string(nums) + `}`
	fromA, fromB := signedPost(t, a, "/getMediaForFragmentList", req), signedPost(t, b, "/getMediaForFragmentList", req)
	if len(fromB) == 0 || !bytes.Equal(fromA, fromB) {
		t.Fatalf("GetMediaForFragmentList: node b returned %d bytes, node a %d; they differ", len(fromB), len(fromA))
	}
}

// TestClusterLiveFanOut: two nodes on one NATS server; a stream without
// retention is never stored, so a GetMedia reader on node b can only get
// node a's fragments over the bus.
func TestClusterLiveFanOut(t *testing.T) {
	nats := natstest.Start(t, natstest.Options{})
	a, b := twoNodes(t, "", func(c *config.Config) {
		c.Bus = nats.URL()
		c.TURN.Enabled = false
	})
	if _, err := a.KVS().CreateStream(context.Background(), &kinesisvideo.CreateStreamInput{StreamName: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	media, err := os.ReadFile(filepath.Join("..", "ingest", "testdata", "h264_aac.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	follow := startGetMedia(t, b, `{"StreamName":"live","StartSelector":{"StartSelectorType":"NOW"}}`)
	// Node b hears the stream once its reader subscribed: wait for the
	// subscription on the NATS server (polled, bounded).
	deadline := time.Now().Add(10 * time.Second)
	for !nats.GlobalAccount().SubscriptionInterest("openkvs.live.live") {
		if time.Now().After(deadline) {
			t.Fatal("node b's GetMedia does not follow the stream on the bus")
		}
		time.Sleep(5 * time.Millisecond)
	}
	received, persisted := putMedia(t, a, "live", media)
	if len(persisted) != 0 || len(received) == 0 {
		t.Fatalf("stream without retention: %d RECEIVED, %d PERSISTED", len(received), len(persisted))
	}
	var seen []byte
	buf := make([]byte, 64<<10)
	last := received[len(received)-1]
	for !bytes.Contains(seen, []byte(last)) {
		k, err := follow.Read(buf)
		if err != nil {
			t.Fatalf("GetMedia on node b ended before node a's last fragment %s: %v", last, err)
		}
		seen = append(seen, buf[:k]...)
	}
}

// twoNodes starts two servers on one PostgreSQL catalog and one SeaweedFS
// bucket (fragments under prefix), with the same credentials; edit, when
// set, changes both configurations further.
func twoNodes(t testing.TB, prefix string, edit func(*config.Config)) (a, b *testserver.Server) {
	t.Helper()
	dsn := pgtest.Start(t)
	s3srv := s3test.Start(t)
	archive := "s3://" + s3srv.NewBucket(t)
	if prefix != "" {
		archive += "/" + prefix
	}
	var creds []string
	shared := func(c *config.Config) {
		c.Storage = config.StorageConfig{
			Catalog: dsn,
			Archive: archive,
			S3:      config.S3Config{Endpoint: s3srv.Endpoint, Region: s3srv.Region, AccessKey: s3srv.AccessKeyID, SecretKey: s3srv.SecretAccessKey},
		}
		if creds != nil {
			c.Credentials = creds
		}
		if edit != nil {
			edit(c)
		}
	}
	a = testserver.Start(t, testserver.Options{Configure: shared})
	ak, err := a.AWSConfig(a.HTTPURL).Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	creds = []string{ak.AccessKeyID + ":" + ak.SecretAccessKey}
	return a, testserver.Start(t, testserver.Options{Configure: shared})
}

// startGetMedia starts a GetMedia request on srv and returns its body,
// closed when the test ends; reading it fails after 30 s.
func startGetMedia(t testing.TB, srv *testserver.Server, body string) io.Reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cfg := srv.AWSConfig(srv.HTTPURL)
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.HTTPURL+"/getMedia", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	return sendStreaming(t, creds, req, hex.EncodeToString(sum[:]))
}

// sendStreaming signs req (for payloadHash) and sends it; it returns the
// body of its 200 response, closed when the test ends.
func sendStreaming(t testing.TB, creds aws.Credentials, req *http.Request, payloadHash string) io.ReadCloser {
	t.Helper()
	if err := v4.NewSigner().SignHTTP(req.Context(), creds, req, payloadHash, "kinesisvideo", testserver.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: status %d: %s", req.URL.Path, resp.StatusCode, msg)
	}
	return resp.Body
}

// signedPost sends a SigV4-signed JSON POST to srv and returns the body of
// its 200 response.
func signedPost(t *testing.T, srv *testserver.Server, path, body string) []byte {
	t.Helper()
	ctx := context.Background()
	cfg := srv.AWSConfig(srv.HTTPURL)
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.HTTPURL+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kinesisvideo", cfg.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d: %s", path, resp.StatusCode, data)
	}
	return data
}

// putMedia sends an MKV file to srv with PutMedia (relative timecodes,
// dated so that it ends now) and returns the numbers of the fragments
// acknowledged RECEIVED and PERSISTED.
func putMedia(t *testing.T, srv *testserver.Server, stream string, media []byte) (received, persisted []string) {
	t.Helper()
	ctx := context.Background()
	cfg := srv.AWSConfig(srv.HTTPURL)
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.HTTPURL+"/putMedia", bytes.NewReader(media))
	req.Header.Set("x-amzn-stream-name", stream)
	req.Header.Set("x-amzn-fragment-timecode-type", "RELATIVE")
	req.Header.Set("x-amzn-producer-start-timestamp", strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10))
	req.Header.Set("x-amzn-fragment-acknowledgment-required", "1")
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, awsapi.EmptyPayloadHash, "kinesisvideo", cfg.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("PutMedia: status %d: %s", resp.StatusCode, msg)
	}
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var ack struct {
			EventType      string
			FragmentNumber string
			ErrorId        int
		}
		if err := dec.Decode(&ack); err != nil {
			if err == io.EOF {
				return received, persisted
			}
			t.Fatalf("PutMedia acks: %v", err)
		}
		switch ack.EventType {
		case "RECEIVED":
			received = append(received, ack.FragmentNumber)
		case "PERSISTED":
			persisted = append(persisted, ack.FragmentNumber)
		case "ERROR":
			t.Fatalf("PutMedia: ERROR ack %+v", ack)
		}
	}
}

// TestClusterPutMediaNewestWins: two nodes on one NATS bus (each with its
// own embedded storage, the stream created on both). A PutMedia on node b
// ends node a's connection of the stream, as a second PutMedia on one node
// would; without --bus, nodes do not know of each other.
func TestClusterPutMediaNewestWins(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	for _, tt := range []struct {
		name    string
		bus     string
		replace bool
	}{
		{"bus", ns.URL(), true},
		{"no bus", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var nodes []*testserver.Server
			for range 2 {
				srv := testserver.Start(t, testserver.Options{Configure: func(c *config.Config) {
					c.TURN.Enabled = false
					c.Bus = tt.bus
				}})
				if _, err := srv.KVS().CreateStream(t.Context(), &kinesisvideo.CreateStreamInput{
					StreamName: aws.String("cam"), DataRetentionInHours: aws.Int32(1),
				}); err != nil {
					t.Fatal(err)
				}
				nodes = append(nodes, srv)
			}
			first, firstBody := openPutMedia(t, nodes[0], "cam")
			second, _ := openPutMedia(t, nodes[1], "cam")
			defer second.Close()
			if !tt.replace {
				// Node a's connection still takes media and acks it.
				media, err := os.ReadFile(filepath.Join("..", "ingest", "testdata", "h264_aac.mkv"))
				if err != nil {
					t.Fatal(err)
				}
				go func() { _, _ = firstBody.Write(media) }()
				acks, persisted := bufio.NewScanner(first), false
				for !persisted && acks.Scan() {
					persisted = bytes.Contains(acks.Bytes(), []byte(`"PERSISTED"`))
				}
				if !persisted {
					t.Fatalf("node a's PutMedia ended without a bus (%v)", acks.Err())
				}
				return
			}
			ended := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, first)
				ended <- err
			}()
			select {
			case <-ended:
			case <-time.After(15 * time.Second):
				t.Fatal("node a's PutMedia goes on after a newer one on node b")
			}
		})
	}
}

// openPutMedia starts a PutMedia on srv that sends nothing yet and returns
// its response body (the acks) and the request body's writer.
func openPutMedia(t *testing.T, srv *testserver.Server, stream string) (io.ReadCloser, io.Writer) {
	t.Helper()
	ctx := t.Context()
	creds, err := srv.AWSConfig(srv.HTTPURL).Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.HTTPURL+"/putMedia", pr)
	req.Header.Set("x-amzn-stream-name", stream)
	req.Header.Set("x-amzn-fragment-timecode-type", "RELATIVE")
	req.Header.Set("x-amzn-producer-start-timestamp", strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10))
	return sendStreaming(t, creds, req, awsapi.EmptyPayloadHash), pw
}
