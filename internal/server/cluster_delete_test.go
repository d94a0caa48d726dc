package server_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testinfra/natstest"
)

// TestClusterDeleteStreamEndsOtherNodes: a stream deleted on node b ends
// the PutMedia and the GetMedia reader of the stream on node a as a
// deletion on node a would: the producer gets the ERROR ack of a stream
// that is not active (4008) and both responses end.
func TestClusterDeleteStreamEndsOtherNodes(t *testing.T) {
	nats := natstest.Start(t, natstest.Options{})
	a, b := twoNodes(t, "", func(c *config.Config) {
		c.Bus = nats.URL()
		c.TURN.Enabled = false
	})
	out, err := a.KVS().CreateStream(t.Context(), &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam"), DataRetentionInHours: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	media, err := os.ReadFile(filepath.Join("..", "ingest", "testdata", "h264_aac.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	acks, body := openPutMedia(t, a, "cam")
	go func() { _, _ = body.Write(media) }() // the connection stays open
	lines := bufio.NewScanner(acks)
	for persisted := false; !persisted; {
		if !lines.Scan() {
			t.Fatalf("PutMedia on node a ended before a PERSISTED ack: %v", lines.Err())
		}
		persisted = bytes.Contains(lines.Bytes(), []byte(`"PERSISTED"`))
	}
	follow := startGetMedia(t, a, `{"StreamName":"cam","StartSelector":{"StartSelectorType":"EARLIEST"}}`)
	if _, err := follow.Read(make([]byte, 1)); err != nil {
		t.Fatalf("GetMedia on node a: %v", err)
	}

	if _, err := b.KVS().DeleteStream(t.Context(), &kinesisvideo.DeleteStreamInput{StreamARN: out.StreamARN}); err != nil {
		t.Fatal(err)
	}
	putEnded := make(chan []byte, 1)
	go func() {
		var rest []byte
		for lines.Scan() {
			rest = append(append(rest, lines.Bytes()...), '\n')
		}
		putEnded <- rest
	}()
	getEnded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, follow)
		getEnded <- err
	}()
	timeout := time.After(15 * time.Second)
	select {
	case rest := <-putEnded:
		if !bytes.Contains(rest, []byte(`"ErrorId":4008`)) {
			t.Fatalf("PutMedia on node a ended without the ERROR ack of a deleted stream; last acks:\n%s", rest)
		}
	case <-timeout:
		t.Fatal("PutMedia on node a goes on after node b deleted its stream")
	}
	select {
	case <-getEnded:
	case <-timeout:
		t.Fatal("GetMedia on node a goes on after node b deleted its stream")
	}
}
