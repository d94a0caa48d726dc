// Package scripts_test checks the shell scripts in scripts/.
package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDepsWaitsForDpkgLockAndShowsProgress runs deps.sh on a PATH where
// nothing is installed and apt-get is a stub that records its arguments:
// every apt-get call must wait for the dpkg lock, and apt's output and
// each step must reach the terminal.
func TestDepsWaitsForDpkgLockAndShowsProgress(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	stubs := map[string]string{
		"id":      "#!" + bash + "\necho 0\n", // root: no sudo
		"apt-get": "#!" + bash + "\necho \"$*\" >> " + calls + "\necho \"apt output for: $*\"\n",
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bash, "deps.sh")
	cmd.Env = []string{"PATH=" + bin}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("deps.sh: %v\n%s", err, out)
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatalf("apt-get never ran: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "update") || !strings.Contains(lines[1], "install") || !strings.Contains(lines[1], "ffmpeg") {
		t.Fatalf("apt-get calls:\n%s", b)
	}
	for _, l := range lines {
		if !strings.Contains(l, "-o DPkg::Lock::Timeout=600") {
			t.Errorf("apt-get %s: does not wait for the dpkg lock", l)
		}
	}
	for _, want := range []string{"apt output for: " + lines[0], "apt output for: " + lines[1], "[1/2] apt-get update", "[2/2] apt-get install", "deps: installed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
