package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/openkvs/openkvs/internal/config"
)

// TestServeRefusesWorldWritableDataDir checks that serve will not run on a
// data dir any user could write to.
func TestServeRefusesWorldWritableDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	cfg := serveConfig(dir)
	_, err := startServe(t, cfg)
	if err == nil || !strings.Contains(err.Error(), dir+" is world-writable") || !strings.Contains(err.Error(), "chmod o-w "+dir) {
		t.Fatalf("serve: %v; want an error naming the dir and the fix", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "credentials")); err == nil {
		t.Error("credentials written to the world-writable dir")
	}
}

// TestServeBannerShowsSecretOnce starts serve twice on one data dir: the
// first start, which generates the access key, prints its secret; the
// second prints the key ID and where the secret is, and its export line
// still sets the secret when pasted into a shell.
func TestServeBannerShowsSecretOnce(t *testing.T) {
	dir := t.TempDir()
	first := serveBanner(t, dir)
	line, err := os.ReadFile(filepath.Join(dir, "credentials"))
	if err != nil {
		t.Fatal(err)
	}
	id, secret, _ := strings.Cut(strings.TrimSpace(string(line)), ":")
	if !strings.Contains(first, "AWS_SECRET_ACCESS_KEY="+secret) {
		t.Fatalf("first start does not show the new secret:\n%s", first)
	}

	second := serveBanner(t, dir)
	if strings.Contains(second, secret) {
		t.Fatalf("second start prints the secret:\n%s", second)
	}
	if !strings.Contains(second, "Access key "+id) || !strings.Contains(second, filepath.Join(dir, "credentials")) {
		t.Fatalf("second start does not name the key and its file:\n%s", second)
	}
	if got := shellExports(t, second, `printf %s "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"`); got != id+":"+secret {
		t.Fatalf("pasted exports set %q, want %q", got, id+":"+secret)
	}
}

// serveConfig is serve's configuration on dataDir with a generated key and
// loopback listeners.
func serveConfig(dataDir string) config.Config {
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.Listen = "127.0.0.1:0"
	cfg.TLSListen = "127.0.0.1:0"
	cfg.TURN.Enabled = false
	return cfg
}

// startServe runs serve with cfg until it is serving, then stops it, and
// returns what it printed on stdout; or it returns the error serve ended
// with before serving.
func startServe(t *testing.T, cfg config.Config) (string, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	serving := &lineWatch{want: "openkvs serving", seen: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, streams{out: &out, err: serving}, cfg) }()
	select {
	case <-serving.seen:
	case err := <-done:
		return "", err
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	return out.String(), nil
}

// serveBanner runs serve on dataDir until it is serving and returns its
// start-up banner.
func serveBanner(t *testing.T, dataDir string) string {
	t.Helper()
	out, err := startServe(t, serveConfig(dataDir))
	if err != nil {
		t.Fatalf("serve ended before serving: %v", err)
	}
	return out
}

// lineWatch is a log writer that closes seen once a write contains want.
type lineWatch struct {
	want string
	seen chan struct{}
	once sync.Once
}

func (w *lineWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(w.want)) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// shellExports pastes the banner's indented command lines into sh, run
// from another directory, then runs then and returns its output.
func shellExports(t *testing.T, banner, then string) string {
	t.Helper()
	var script []string
	for _, l := range strings.Split(banner, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "export ") || strings.HasPrefix(l, "unset ") {
			script = append(script, l)
		}
	}
	cmd := exec.Command("sh", "-c", strings.Join(append(script, then), "\n"))
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v: %s", err, b)
	}
	return string(b)
}
