// Package pgtest starts a throwaway PostgreSQL server for tests.
//
// Start runs the server binaries of the machine's PostgreSQL installation
// (Debian's postgresql package) on a Unix socket in a temporary directory,
// so that tests need no TCP port and no running service. When PostgreSQL is
// not installed the test is skipped with a message saying how to install
// it, unless OPENKVS_REQUIRE_CLUSTER_DEPS is set (see testinfra.Missing): then
// it fails.
package pgtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkvs/openkvs/internal/testinfra"
)

// binDir finds the directory holding the postgres and initdb binaries: on
// PATH, or where Debian installs them.
func binDir() (string, bool) {
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), true
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) }) // newest first
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, true
		}
	}
	return "", false
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start starts a PostgreSQL server on a Unix socket in a temporary
// directory (no TCP port), stops it when t ends and returns a connection
// URL for its superuser "openkvs" and database "postgres" (the socket
// directory in its host parameter). It skips t when PostgreSQL is not installed (see Missing).
func Start(t testing.TB) (dsn string) {
	t.Helper()
	bin, ok := binDir()
	if !ok {
		testinfra.Missing(t, "PostgreSQL is not installed (no postgres on PATH or in /usr/lib/postgresql/*/bin); "+
			"install it (apt-get install postgresql) to run this test")
	}
	base, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })

	// PostgreSQL refuses to run as root: run it as the postgres user.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testinfra.Missing(t, fmt.Sprintf("running as root and there is no postgres user to run PostgreSQL as: %v", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	command := func(ctx context.Context, name string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = []string{"LC_ALL=C", "PATH=" + bin}
		return cmd
	}

	// The database's default collation is ICU's en-US where the server
	// has it (PostgreSQL 15 and later), so that ordering tests show that
	// tables really use byte order rather than the default.
	data := filepath.Join(base, "data")
	initdb := []string{"-D", data, "-U", "openkvs", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"}
	out, err := command(t.Context(), "initdb", append(initdb, "--locale-provider=icu", "--icu-locale=en-US")...).CombinedOutput()
	if err != nil {
		t.Logf("initdb with ICU collation failed, using C: %v\n%s", err, out)
		_ = os.RemoveAll(data)
		if out, err := command(t.Context(), "initdb", initdb...).CombinedOutput(); err != nil {
			t.Fatalf("initdb: %v\n%s", err, out)
		}
	}

	// Not CommandContext: the server must outlive t.Context() until the
	// cleanup stops it.
	srv := command(context.Background(), "postgres", "-D", data, "-k", base, "-c", "listen_addresses=",
		"-p", "5432", "-c", "fsync=off", "-c", "max_connections=100")
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	var (
		logMu sync.Mutex
		log   bytes.Buffer
		ready = make(chan struct{})
		ended = make(chan struct{})
	)
	go func() {
		defer close(ended)
		lines := bufio.NewScanner(stderr)
		signaled := false
		for lines.Scan() {
			logMu.Lock()
			log.WriteString(lines.Text() + "\n")
			logMu.Unlock()
			if !signaled && strings.Contains(lines.Text(), "ready to accept connections") {
				signaled = true
				close(ready)
			}
		}
	}()
	serverLog := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return log.String()
	}
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGINT) // fast shutdown
		<-ended
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("postgres log:\n%s", serverLog())
		}
	})
	select {
	case <-ready:
	case <-ended:
		t.Fatalf("postgres exited during startup:\n%s", serverLog())
	case <-time.After(60 * time.Second):
		t.Fatalf("postgres not ready after a minute:\n%s", serverLog())
	}
	return "postgres://openkvs@/postgres?sslmode=disable&port=5432&host=" + url.QueryEscape(base)
}

var schemas atomic.Int64

// NewSchema creates a fresh schema in the database at dsn and returns its
// name, so that tests sharing one server do not see each other's tables.
func NewSchema(t testing.TB, dsn string) string {
	t.Helper()
	name := fmt.Sprintf("test_%d", schemas.Add(1))
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `CREATE SCHEMA `+name); err != nil {
		t.Fatal(err)
	}
	return name
}
