// Package s3test starts a real S3-compatible server, SeaweedFS's
// single-process "weed mini", for tests.
//
// The weed binary is built and cached by scripts/seaweedfs.sh; the
// Makefile passes its path in OPENKVS_WEED. Start looks there, then for
// "weed" on PATH, then in the script's cache. When none is found the test
// is skipped with a message saying how to build it, unless
// OPENKVS_REQUIRE_CLUSTER_DEPS is set (as in CI): then it fails.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openkvs/openkvs/internal/testinfra"
)

// BinEnv names the environment variable holding the weed binary's path.
const BinEnv = "OPENKVS_WEED"

// Server is a running SeaweedFS S3 gateway.
type Server struct {
	// Endpoint is the S3 base URL, e.g. "http://127.0.0.1:40123".
	Endpoint string
	// Region is the region to sign requests for.
	Region string
	// AccessKeyID and SecretAccessKey are the credentials of the one
	// identity the server knows (an admin of every bucket).
	AccessKeyID     string
	SecretAccessKey string
}

// Binary returns the weed binary's path, or "" when there is none.
func Binary() string {
	if p := os.Getenv(BinEnv); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("weed"); err == nil {
		return p
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	found, _ := filepath.Glob(filepath.Join(cache, "openkvs", "weed-*", "weed"))
	if len(found) > 0 {
		return found[len(found)-1]
	}
	return ""
}

// freePorts returns n distinct TCP ports free on 127.0.0.1 right now.
func freePorts(t testing.TB, n int) []int {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Start starts weed mini on loopback ports in a temporary directory, waits
// until its S3 gateway answers signed requests, and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		testinfra.Missing(t, "SeaweedFS's weed binary was not found (neither $"+BinEnv+", weed on PATH, nor the cache of "+
			"scripts/seaweedfs.sh); run ./scripts/seaweedfs.sh to build it (once, several minutes)")
	}
	dir := t.TempDir()
	key := make([]byte, 20)
	_, _ = rand.Read(key)
	srv := &Server{
		Region:          "us-east-1",
		AccessKeyID:     "OPENKVSTEST" + hex.EncodeToString(key[:4]),
		SecretAccessKey: hex.EncodeToString(key[4:]),
	}
	s3conf := map[string]any{"identities": []any{map[string]any{
		"name":        "openkvs",
		"credentials": []any{map[string]string{"accessKey": srv.AccessKeyID, "secretKey": srv.SecretAccessKey}},
		"actions":     []string{"Admin", "Read", "Write", "List", "Tagging"},
	}}}
	conf, _ := json.Marshal(s3conf)
	confPath := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}

	// Every port explicit, so that servers started in parallel do not
	// pick the same defaults; the optional gateways are off.
	p := freePorts(t, 8)
	port := func(i int) string { return strconv.Itoa(p[i]) }
	args := []string{"mini",
		"-dir=" + data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-s3.config=" + confPath,
		"-master.port=" + port(0), "-master.port.grpc=" + port(1),
		"-volume.port=" + port(2), "-volume.port.grpc=" + port(3),
		"-filer.port=" + port(4), "-filer.port.grpc=" + port(5),
		"-s3.port=" + port(6), "-s3.port.grpc=" + port(7),
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-webdav=false", "-admin.ui=false",
		"-master.telemetry=false",
		"-master.volumeSizeLimitMB=1024", "-volume.max=0",
	}
	srv.Endpoint = "http://127.0.0.1:" + port(6)

	var logBuf testinfra.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = &logBuf
	cmd.Stderr = &logBuf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("weed mini log:\n%s", logBuf.String())
		}
	})

	// Ready when a signed ListBuckets succeeds: the gateway is up and
	// has loaded the identities. Polled, with a bound.
	client := srv.Client()
	deadline := time.Now().Add(2 * time.Minute)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, lastErr = client.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if lastErr == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("weed mini exited during startup:\n%s", logBuf.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("weed mini's S3 gateway not ready after 2 minutes (last error: %v):\n%s", lastErr, logBuf.String())
		}
	}
	return srv
}

// Client returns an S3 client for the server.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKeyID, s.SecretAccessKey, ""),
	})
}

var buckets atomic.Int64

// NewBucket creates an empty bucket with a fresh name and returns it.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test-%d-%d", os.Getpid(), buckets.Add(1))
	if _, err := s.Client().CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}
