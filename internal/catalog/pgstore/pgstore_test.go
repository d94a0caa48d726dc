package pgstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
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

	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/catalog/catalogtest"
)

// TestPostgres runs every test of this package against one throwaway
// PostgreSQL server; each store gets a schema of its own.
func TestPostgres(t *testing.T) {
	url := startPostgres(t)
	var schemas atomic.Int64
	newSchema := func(t *testing.T) string {
		name := fmt.Sprintf("test_%d", schemas.Add(1))
		conn, err := pgx.Connect(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(t.Context(), `CREATE SCHEMA `+name); err != nil {
			t.Fatal(err)
		}
		return name
	}
	open := func(t *testing.T, schema string) *Store {
		t.Helper()
		s, err := Open(t.Context(), Config{URL: url, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	t.Run("Conformance", func(t *testing.T) {
		catalogtest.Run(t, func(t *testing.T) catalog.Store { return open(t, newSchema(t)) })
	})

	t.Run("Reopen", func(t *testing.T) {
		schema := newSchema(t)
		s := open(t, schema)
		if err := s.CreateStream(t.Context(), catalogtest.SampleStream("kept")); err != nil {
			t.Fatal(err)
		}
		s.Close()
		got, err := open(t, schema).GetStream(t.Context(), "kept")
		if err != nil {
			t.Fatalf("after reopen: %v", err)
		}
		if want := catalogtest.SampleStream("kept"); !got.CreationTime.Equal(want.CreationTime) || got.ARN != want.ARN {
			t.Fatalf("after reopen: got %+v", got)
		}
	})

	t.Run("TwoNodes", func(t *testing.T) {
		schema := newSchema(t)
		a, b := open(t, schema), open(t, schema)
		if err := a.CreateChannel(t.Context(), catalogtest.SampleChannel("c")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.GetChannel(t.Context(), "c"); err != nil {
			t.Fatalf("node b does not see node a's channel: %v", err)
		}
		// Updates from both nodes at once are serialized.
		const perNode = 20
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, s := range []*Store{a, b} {
			wg.Go(func() {
				for range perNode {
					if _, err := s.UpdateChannel(t.Context(), "c", func(c *catalog.Channel) error {
						c.MessageTTLSeconds++
						return nil
					}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		c, err := a.GetChannel(t.Context(), "c")
		if err != nil {
			t.Fatal(err)
		}
		if want := catalogtest.SampleChannel("c").MessageTTLSeconds + 2*perNode; c.MessageTTLSeconds != want {
			t.Fatalf("after concurrent updates from two nodes: %d, want %d", c.MessageTTLSeconds, want)
		}
	})

	t.Run("ConcurrentOpen", func(t *testing.T) {
		schema := newSchema(t)
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() {
				s, err := Open(t.Context(), Config{URL: url, Schema: schema})
				if err == nil {
					s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("open %d racing the others: %v", i, err)
			}
		}
	})

	t.Run("LayoutVersion", func(t *testing.T) {
		schema := newSchema(t)
		s := open(t, schema)
		if _, err := s.pool.Exec(t.Context(), `UPDATE `+s.meta+` SET value = '2' WHERE key = 'version'`); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if s, err := Open(t.Context(), Config{URL: url, Schema: schema}); !errors.Is(err, ErrVersion) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("open of a newer layout: got %v, want ErrVersion", err)
		}
	})

	t.Run("CorruptRecord", func(t *testing.T) {
		s := open(t, newSchema(t))
		if _, err := s.pool.Exec(t.Context(), `INSERT INTO `+s.streams.table+` (name, record) VALUES ('bad', '[1]')`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetStream(t.Context(), "bad"); err == nil || errors.Is(err, catalog.ErrNotFound) {
			t.Fatalf("GetStream of a corrupt record: %v", err)
		}
	})

	t.Run("OpenErrors", func(t *testing.T) {
		tests := []struct {
			name    string
			cfg     Config
			wantErr error // nil: any error
		}{
			{"no URL", Config{}, ErrNoURL},
			{"bad URL", Config{URL: "postgres://user:secret@host:notaport/db"}, nil},
			{"no server", Config{URL: "host=" + t.TempDir() + " user=openkvs dbname=postgres connect_timeout=5"}, nil},
			{"missing schema", Config{URL: url, Schema: "absent"}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s, err := Open(t.Context(), tc.cfg)
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded")
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("error shows the password: %v", err)
				}
			})
		}
	})
}

// postgresBin finds the directory holding the postgres and initdb binaries:
// on PATH, or where Debian installs them.
func postgresBin() (string, bool) {
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

// startPostgres starts a PostgreSQL server on a Unix socket in a temporary
// directory (no TCP port), stops it when t ends and returns a connection
// string for its superuser. It skips t when PostgreSQL is not installed.
func startPostgres(t testing.TB) string {
	bin, ok := postgresBin()
	if !ok {
		t.Skip("PostgreSQL is not installed (no postgres on PATH or in /usr/lib/postgresql/*/bin); " +
			"install it (apt-get install postgresql) to test pgstore")
	}
	base, err := os.MkdirTemp("", "pgstore-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })

	// PostgreSQL refuses to run as root: run it as the postgres user.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and there is no postgres user to run PostgreSQL as: %v", err)
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
	// has it (PostgreSQL 15 and later), so that the suite's ordering tests
	// show the tables really use byte order rather than the default.
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
		"-p", "5432", "-c", "fsync=off", "-c", "max_connections=60")
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
	return fmt.Sprintf("host=%s port=5432 user=openkvs dbname=postgres sslmode=disable", base)
}

func openBench(b *testing.B) *Store {
	s, err := Open(b.Context(), Config{URL: startPostgres(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if err := s.CreateStream(b.Context(), catalogtest.SampleStream("hot")); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkGetStream measures one lookup over a Unix socket.
func BenchmarkGetStream(b *testing.B) {
	s := openBench(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetStream(b.Context(), "hot"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateStream measures one locked read-modify-write transaction
// (the test server runs with fsync off).
func BenchmarkUpdateStream(b *testing.B) {
	s := openBench(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.UpdateStream(b.Context(), "hot", func(st *catalog.Stream) error {
			st.DataRetentionInHours++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
