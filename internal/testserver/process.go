package testserver

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Build compiles the openkvs binary into a temporary directory and returns
// its path, for tests that run the real program (crash tests).
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "openkvs")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/openkvs/openkvs/cmd/openkvs")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build openkvs: %v", err)
	}
	return bin
}

// Process is a real `openkvs serve` child process with plain HTTP only, no
// TURN, and the test credentials.
type Process struct {
	// URL is the base URL of its HTTP listener.
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartProcess runs bin serve on dataDir, listening on listen (such as
// "127.0.0.1:0", or a fixed address to come back on after a restart), and
// waits until it serves; args are more serve flags (another
// "--credentials", say). The process is killed when the test ends.
func StartProcess(t testing.TB, bin, dataDir, listen string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--data-dir", dataDir, "--listen", listen, "--tls-listen", "off",
		"--turn=false", "--credentials", AccessKeyID + ":" + SecretAccessKey, "--log-level", "warn"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			// serve prints "openkvs VERSION: HTTP  http://ADDR" once it
			// listens.
			if _, u, ok := strings.Cut(sc.Text(), ": HTTP  "); ok {
				select {
				case urls <- strings.TrimSpace(u):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.Kill)
	select {
	case p.URL = <-urls:
	case <-p.done:
		t.Fatal("openkvs serve exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("openkvs serve did not start listening")
	}
	return p
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop ends the process gracefully (SIGINT) and waits for it.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("openkvs serve did not stop")
	}
}

// Pid is the process id (to read its memory use, say).
func (p *Process) Pid() int { return p.cmd.Process.Pid }
