// Package testserver starts a whole openkvs on loopback with a temporary
// data dir for integration tests, and hands out clients for it.
package testserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/server"
)

// Test credentials every test server accepts.
const (
	AccessKeyID     = "AKIAOPENKVSTEST00001"
	SecretAccessKey = "openkvs/test/secret+key/0123456789abcdefg"
	Region          = "us-west-2"
	// SessionToken is the session token issued with AccessKeyID: requests
	// may carry it or none, any other is refused.
	SessionToken = "openkvs-test-session-token"
)

// Options adjust the started server.
type Options struct {
	// DataDir reuses a data dir (restart tests). Defaults to t.TempDir().
	DataDir string
	// Configure, when set, edits the config before the server starts.
	Configure func(*config.Config)
	// Now is the server's clock. Defaults to time.Now.
	Now func() time.Time
	// Log receives the server log. Defaults to discarding it unless
	// OPENKVS_TEST_LOG is set.
	Log *slog.Logger
}

// Server is a running test server.
type Server struct {
	*server.Server
	// HTTPURL and HTTPSURL are the base URLs of the two listeners.
	HTTPURL, HTTPSURL string
	// DataDir is the server's data dir.
	DataDir string
	// Config is the configuration it runs with.
	Config config.Config
}

// Start runs an openkvs server on loopback ports chosen by the kernel. It is
// shut down when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = opts.DataDir
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.TLSListen = "127.0.0.1:0"
	cfg.TURN.Listen = "127.0.0.1:0"
	cfg.TURN.TLSListen = config.Off
	cfg.Credentials = []string{AccessKeyID + ":" + SecretAccessKey + ":" + SessionToken}
	cfg.ShutdownTimeout = 5 * time.Second
	// Tests connect several signaling clients to one channel at once,
	// faster than KVS' 3 a second; Configure can set it back (0).
	cfg.Signaling.ConnectRate = -1
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	log := opts.Log
	if log == nil {
		var w io.Writer = io.Discard
		if os.Getenv("OPENKVS_TEST_LOG") != "" {
			w = os.Stderr
		}
		log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := server.New(cfg, server.Options{Logger: log, Now: opts.Now})
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	if err := srv.Start(); err != nil {
		_ = srv.Shutdown(context.Background())
		t.Fatalf("testserver: %v", err)
	}
	s := &Server{Server: srv, DataDir: cfg.DataDir, Config: cfg}
	if a := srv.HTTPAddr(); a != nil {
		s.HTTPURL = "http://" + a.String()
	}
	if a := srv.TLSAddr(); a != nil {
		s.HTTPSURL = "https://" + a.String()
	}
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop shuts the server down; calling it twice is harmless.
func (s *Server) Stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Logf("testserver shutdown: %v", err)
	}
}

// HTTPClient returns an HTTP client that trusts the server's CA.
func (s *Server) HTTPClient() *http.Client {
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(s.CAPath()); err == nil {
		pool.AppendCertsFromPEM(pem)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// AWSConfig returns an aws.Config signed with the test credentials and
// pointing at baseURL (HTTPURL or HTTPSURL).
func (s *Server) AWSConfig(baseURL string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		BaseEndpoint: aws.String(baseURL),
		HTTPClient:   s.HTTPClient(),
	}
}

// KVS returns the real aws-sdk-go-v2 kinesisvideo client for the HTTP
// listener.
func (s *Server) KVS() *kinesisvideo.Client {
	return kinesisvideo.NewFromConfig(s.AWSConfig(s.HTTPURL))
}
