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
	_, _, err := startServe(t, serveConfig(dir))
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

// startServe runs serve with cfg until it is serving and returns what it
// printed on stdout and a function that stops it (also called when the
// test ends); or it returns the error serve ended with before serving.
func startServe(t *testing.T, cfg config.Config) (string, func(), error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	serving := &lineWatch{want: "openkvs serving", seen: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, streams{out: &out, err: serving}, cfg) }()
	select {
	case <-serving.seen:
	case err := <-done:
		cancel()
		return "", nil, err
	}
	banner := out.String() // printed before "openkvs serving" is logged
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return banner, stop, nil
}

// serveBanner runs serve on dataDir until it is serving, stops it and
// returns its start-up banner.
func serveBanner(t *testing.T, dataDir string) string {
	t.Helper()
	banner, stop, err := startServe(t, serveConfig(dataDir))
	if err != nil {
		t.Fatalf("serve ended before serving: %v", err)
	}
	stop()
	return banner
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
// from another directory with a session token in its environment, then
// runs then and returns its output.
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
	// A token left in the shell must not survive the paste.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "AWS_SESSION_TOKEN=left-over"}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v: %s", err, b)
	}
	return string(b)
}

// TestServeBannerNewcomer follows the banner as a newcomer would: the
// console URLs are printed, and the pasted exports work from any
// directory: both region variables, an absolute CA path that the
// openkvs client then trusts over HTTPS.
func TestServeBannerNewcomer(t *testing.T) {
	dir := t.TempDir()
	banner, _, err := startServe(t, serveConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	var httpURL, httpsURL string
	for _, l := range strings.Split(banner, "\n") {
		if _, u, ok := strings.Cut(l, ": HTTP  "); ok {
			httpURL = u
		}
		if _, u, ok := strings.Cut(l, ": HTTPS "); ok {
			httpsURL, _, _ = strings.Cut(u, " ")
		}
	}
	for _, want := range []string{httpURL + "/ ", httpURL + "/streams", httpURL + "/webrtc", httpsURL + "/"} {
		if httpURL == "" || httpsURL == "" || !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}

	env := shellExports(t, banner, `printf '%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_REGION" "$AWS_DEFAULT_REGION" "$AWS_ENDPOINT_URL" "$AWS_CA_BUNDLE" "$AWS_KVS_CACERT_PATH" "${AWS_SESSION_TOKEN-unset}"`)
	v := strings.Split(strings.TrimSuffix(env, "\n"), "\n")
	if len(v) != 8 {
		t.Fatalf("exports gave %q", env)
	}
	if v[2] != "us-east-1" || v[3] != "us-east-1" || v[4] != httpURL || v[7] != "unset" {
		t.Errorf("region %q/%q, endpoint %q, session token %q", v[2], v[3], v[4], v[7])
	}
	if !filepath.IsAbs(v[5]) || v[5] != v[6] {
		t.Fatalf("CA paths %q, %q: want one absolute path", v[5], v[6])
	}

	// The exported key and CA work from another directory, over HTTPS.
	t.Chdir(t.TempDir())
	for k, val := range map[string]string{
		"AWS_ACCESS_KEY_ID": v[0], "AWS_SECRET_ACCESS_KEY": v[1], "AWS_REGION": v[2], "AWS_DEFAULT_REGION": v[3],
		"AWS_ENDPOINT_URL": httpsURL, "AWS_CA_BUNDLE": v[5], "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, val)
	}
	if _, stderr, code := run(t, nil, "stream", "create", "newcomer"); code != 0 {
		t.Fatalf("stream create with the pasted exports over %s: exit %d: %s", httpsURL, code, stderr)
	}
}
