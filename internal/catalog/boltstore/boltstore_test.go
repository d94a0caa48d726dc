package boltstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/catalog/catalogtest"
)

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "catalog.db")
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Store {
		s, _ := openTemp(t)
		return s
	})
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	if err := s.CreateStream(ctx, catalogtest.SampleStream("kept")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateStream(ctx, catalogtest.SampleStream("deleted")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteStream(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateChannel(ctx, catalogtest.SampleChannel("chan")); err != nil {
		t.Fatal(err)
	}
	want, err := s.UpdateStream(ctx, "kept", func(st *catalog.Stream) error {
		st.DataRetentionInHours = 72
		st.Tags["after"] = "update"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantCh, err := s.GetChannel(ctx, "chan")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(Config{Path: path})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	got, err := s2.GetStream(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if got.DataRetentionInHours != 72 || got.Tags["after"] != "update" || !got.CreationTime.Equal(want.CreationTime) ||
		string(got.Edge) != string(want.Edge) {
		t.Fatalf("after reopen:\n got %+v\nwant %+v", got, want)
	}
	if _, err := s2.GetStream(ctx, "deleted"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("deleted stream after reopen: %v", err)
	}
	gotCh, err := s2.GetChannel(ctx, "chan")
	if err != nil {
		t.Fatal(err)
	}
	if gotCh.MessageTTLSeconds != wantCh.MessageTTLSeconds || string(gotCh.MediaStorage) != string(wantCh.MediaStorage) {
		t.Fatalf("channel after reopen:\n got %+v\nwant %+v", gotCh, wantCh)
	}
	if n, err := s2.CountStreams(ctx); err != nil || n != 1 {
		t.Fatalf("CountStreams after reopen = %d, %v", n, err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr error // nil: any error
	}{
		{"no path", "", ErrNoPath},
		{"path is a directory", dir, nil},
		{"parent is a file", filepath.Join(notDir, "catalog.db"), nil},
		{"not a bbolt file", garbage, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(Config{Path: tc.path, Timeout: time.Second})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestLocked(t *testing.T) {
	_, path := openTemp(t)
	// flock is per open file, so a second Open in the same process waits
	// like another process would.
	s, err := Open(Config{Path: path, Timeout: 50 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("got %v, want ErrLocked", err)
	}
}

func TestLayoutVersion(t *testing.T) {
	tests := []struct {
		name  string
		setup func(tx *bolt.Tx) error
	}{
		{"newer version", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyVersion, []byte("2"))
		}},
		{"version missing", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Delete(keyVersion)
		}},
		{"meta missing", func(tx *bolt.Tx) error {
			return tx.DeleteBucket(bucketMeta)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openTemp(t)
			if err := s.db.Update(tc.setup); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s, err := Open(Config{Path: path})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrVersion) {
				t.Fatalf("got %v, want ErrVersion", err)
			}
		})
	}
}

func TestLogs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	path := filepath.Join(t.TempDir(), "catalog.db")
	s, err := Open(Config{Path: path, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateStream(t.Context(), catalogtest.SampleStream("a")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(Config{Path: path, Logger: log}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, want := range []string{
		`msg="catalog opened" path=` + path + ` streams=0 channels=0`,
		`msg="catalog closed" path=` + path,
		`msg="catalog opened" path=` + path + ` streams=1 channels=0`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestDurableSettings(t *testing.T) {
	s, _ := openTemp(t)
	if s.db.NoSync {
		t.Fatal("NoSync is on: commits would not reach the disk")
	}
}

func TestCorruptRecord(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStreams).Put([]byte("bad"), []byte("{not json"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetStream(t.Context(), "bad"); err == nil || errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("GetStream of a corrupt record: %v", err)
	}
	if _, err := s.ListStreams(t.Context(), catalog.ListOptions{}); err == nil {
		t.Fatal("ListStreams over a corrupt record succeeded")
	}
	if _, err := s.UpdateStream(t.Context(), "bad", func(*catalog.Stream) error {
		t.Error("fn called for a corrupt record")
		return nil
	}); err == nil {
		t.Fatal("UpdateStream of a corrupt record succeeded")
	}
}

const crashEnv = "BOLTSTORE_CRASH_CHILD"

// TestCrashChild is the process TestKill9 kills: it writes one stream after
// another and reports each one on stdout once the write has returned.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("runs only as a child of TestKill9")
	}
	s, err := Open(Config{Path: path})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		name := fmt.Sprintf("s%06d", i)
		if err := s.CreateStream(ctx, catalogtest.SampleStream(name)); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		if _, err := s.UpdateStream(ctx, name, func(st *catalog.Stream) error {
			st.DataRetentionInHours = i
			return nil
		}); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(i)
	}
}

// TestKill9 kills a process that is writing as fast as it can (SIGKILL,
// usually in the middle of a transaction) and checks that the file opens,
// passes bbolt's consistency check and holds every write the process saw
// return.
func TestKill9(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("child process")
	}
	path := filepath.Join(t.TempDir(), "catalog.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run", "^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	lines := bufio.NewScanner(out)
	for acked < 30 && lines.Scan() {
		n, err := strconv.Atoi(lines.Text())
		if err != nil {
			t.Fatalf("child: %s", lines.Text())
		}
		acked = n
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if acked < 30 {
		t.Fatalf("child stopped after %d writes", acked+1)
	}

	s, err := Open(Config{Path: path, Timeout: time.Second})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	if err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("bbolt check after kill -9: %v", err)
	}
	for i := 0; i <= acked; i++ {
		name := fmt.Sprintf("s%06d", i)
		st, err := s.GetStream(t.Context(), name)
		if err != nil {
			t.Fatalf("acknowledged stream %s lost: %v", name, err)
		}
		if st.DataRetentionInHours != i {
			t.Fatalf("acknowledged update of %s lost: retention %d", name, st.DataRetentionInHours)
		}
	}
	// Whatever came after the last acknowledged write is whole or absent.
	recs, err := s.ListStreams(t.Context(), catalog.ListOptions{After: fmt.Sprintf("s%06d", acked)})
	if err != nil {
		t.Fatalf("list after kill -9: %v", err)
	}
	t.Logf("%d writes acknowledged, %d more found whole", acked+1, len(recs))
}

func BenchmarkGetStream(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	const n = 1000
	for i := range n {
		if err := s.CreateStream(ctx, catalogtest.SampleStream(fmt.Sprintf("stream-%04d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.GetStream(ctx, fmt.Sprintf("stream-%04d", i%n)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGetStreamParallel(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	if err := s.CreateStream(ctx, catalogtest.SampleStream("hot")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetStream(ctx, "hot"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkUpdateStream measures one durable read-modify-write; it is bound
// by the disk's fsync latency.
func BenchmarkUpdateStream(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	if err := s.CreateStream(ctx, catalogtest.SampleStream("hot")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.UpdateStream(ctx, "hot", func(st *catalog.Stream) error {
			st.DataRetentionInHours++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkListStreams(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	for i := range 1000 {
		if err := s.CreateStream(ctx, catalogtest.SampleStream(fmt.Sprintf("stream-%04d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		recs, err := s.ListStreams(ctx, catalog.ListOptions{After: "stream-0500", Limit: 100})
		if err != nil || len(recs) != 100 {
			b.Fatal(len(recs), err)
		}
	}
}

// FuzzListStreams compares ListStreams with a plain filter-and-sort over the
// same names for arbitrary prefixes, cursors and limits.
func FuzzListStreams(f *testing.F) {
	names := []string{
		"B", "Cam-3", "a", "a-b", "a.b", "a0", "aB", "a_b", "ab", "b", "cam-1", "cam-10", "cam-2", "z",
		"é", "é-1", "zz", "zzz",
	}
	s, _ := openTemp(f)
	for _, n := range names {
		if err := s.CreateStream(context.Background(), catalogtest.SampleStream(n)); err != nil {
			f.Fatal(err)
		}
	}
	slices.Sort(names)
	f.Add("", "", 0)
	f.Add("cam-", "cam-1", 1)
	f.Add("a", "b", 0)
	f.Add("", "a\x00", 3)
	f.Add("\xc3", "", 0)
	f.Add("z", "zz", 5)
	f.Fuzz(func(t *testing.T, prefix, after string, limit int) {
		limit = max(limit, 0) % 30
		recs, err := s.ListStreams(t.Context(), catalog.ListOptions{Prefix: prefix, After: after, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, n := range names {
			if strings.HasPrefix(n, prefix) && n > after && (limit == 0 || len(want) < limit) {
				want = append(want, n)
			}
		}
		got := make([]string, len(recs))
		for i, r := range recs {
			got[i] = r.Name
		}
		if !slices.Equal(got, want) {
			t.Fatalf("prefix %q after %q limit %d:\n got %q\nwant %q", prefix, after, limit, got, want)
		}
	})
}
