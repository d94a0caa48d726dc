package controlplane

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/catalog/memstore"
)

// fakeClock is an injectable clock that only moves when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// hostResolver answers endpoints built from the Host the caller used.
type hostResolver struct{}

func (hostResolver) DataEndpoint(r *http.Request) string { return "https://" + r.Host }
func (hostResolver) SignalingEndpoints(r *http.Request) (string, string) {
	return "wss://" + r.Host, "https://" + r.Host
}

// testEnv is a Service mounted on a loopback HTTP server, with the real
// aws-sdk-go-v2 kinesisvideo client pointed at it.
type testEnv struct {
	svc    *Service
	store  catalog.Store
	clock  *fakeClock
	srv    *httptest.Server
	client *kinesisvideo.Client

	mu              sync.Mutex
	deletedStreams  []string
	deletedChannels []string
}

var testEpoch = time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)

func newTestEnv(t *testing.T, configure ...func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{store: memstore.New(), clock: &fakeClock{t: testEpoch}}
	cfg := Config{
		Store:     e.store,
		Endpoints: hostResolver{},
		Now:       e.clock.Now,
		Region:    "eu-west-1",
		AccountID: "123456789012",
		OnStreamDeleted: func(_ context.Context, s *catalog.Stream) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.deletedStreams = append(e.deletedStreams, s.ARN)
		},
		OnChannelDeleted: func(_ context.Context, c *catalog.Channel) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.deletedChannels = append(e.deletedChannels, c.ARN)
		},
	}
	for _, f := range configure {
		f(&cfg)
	}
	e.store = cfg.Store
	svc, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.svc = svc
	mux := http.NewServeMux()
	for _, op := range svc.Operations() {
		mux.Handle(op.Pattern, op.Handler)
	}
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.client = kinesisvideo.New(kinesisvideo.Options{
		Region:           "eu-west-1",
		BaseEndpoint:     aws.String(e.srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:       e.srv.Client(),
		RetryMaxAttempts: 1,
	})
	return e
}

// must turns a (value, error) result into a value, failing the test on an
// error: must(client.Op(ctx, in))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless err is (or wraps) an E, which it returns.
func wantErr[E error](t *testing.T, err error) E {
	t.Helper()
	var e E
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want %T", err, e)
	}
	return e
}
