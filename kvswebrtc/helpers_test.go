package kvswebrtc

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"

	"github.com/openkvs/openkvs/internal/testserver"
)

// testWait bounds every wait for an event in these tests.
const testWait = 20 * time.Second

func testLogger(t testing.TB) *slog.Logger {
	var w io.Writer = io.Discard
	if os.Getenv("OPENKVS_TEST_LOG") != "" {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// rig is an openkvs with one signaling channel.
type rig struct {
	t   testing.TB
	srv *testserver.Server
	kvs *kinesisvideo.Client
	arn string
}

func newRig(t testing.TB, opts testserver.Options) *rig {
	t.Helper()
	srv := testserver.Start(t, opts)
	r := &rig{t: t, srv: srv, kvs: srv.KVS()}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	out, err := r.kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{
		ChannelName: aws.String("cam-" + sanitize(t.Name())),
		ChannelType: types.ChannelTypeSingleMaster,
	})
	if err != nil {
		t.Fatalf("CreateSignalingChannel: %v", err)
	}
	r.arn = aws.ToString(out.ChannelARN)
	return r
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// signaling discovers the channel for role and returns a client for it.
func (r *rig) signaling(role Role, clientID string, edit func(*SignalingConfig)) *SignalingClient {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	ch, err := Discover(ctx, r.kvs, DiscoverInput{ChannelARN: r.arn, Role: role})
	if err != nil {
		r.t.Fatalf("Discover %s: %v", role, err)
	}
	cfg := SignalingConfig{
		Channel:      ch,
		ControlPlane: r.kvs,
		ClientID:     clientID,
		Region:       testserver.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(testserver.AccessKeyID, testserver.SecretAccessKey, ""),
		HTTPClient:   r.srv.HTTPClient(),
		Logger:       testLogger(r.t).With("role", string(role)),
		MinBackoff:   20 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	sc, err := NewSignalingClient(cfg)
	if err != nil {
		r.t.Fatalf("NewSignalingClient: %v", err)
	}
	return sc
}

// loopPeer is the PeerConfig of every test peer: loopback only, STUN and
// TURN from openkvs' GetIceServerConfig.
func loopPeer(t testing.TB) PeerConfig {
	return PeerConfig{STUNURL: "-", LoopbackOnly: true, Logger: testLogger(t)}
}

// sampleSource loops a file of package sample.
func sampleSource(t testing.TB, name string) *LoopSource {
	t.Helper()
	l, err := SampleSource(name)
	if err != nil {
		t.Fatalf("sample %s: %v", name, err)
	}
	return l
}

// goRun runs fn in a goroutine and, at cleanup, cancels it and waits.
func goRun(t testing.TB, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(testWait):
			t.Errorf("run did not end")
		}
	})
}

func waitFor(t testing.TB, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testWait):
		t.Fatalf("timed out waiting for %s", what)
	}
}
