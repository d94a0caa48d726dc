package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/catalog/catalogtest"
	"github.com/openkvs/openkvs/internal/testinfra/pgtest"
)

// TestPostgres runs every test of this package against one throwaway
// PostgreSQL server; each store gets a schema of its own.
func TestPostgres(t *testing.T) {
	url := pgtest.Start(t)
	newSchema := func(t *testing.T) string { return pgtest.NewSchema(t, url) }
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

	// UpgradeFromFirstRelease opens a database laid out by the
	// pgstore that created its tables without migration steps (the
	// statements below are that version's, verbatim): the data stays and
	// the layout counts as version 1.
	t.Run("UpgradeFromFirstRelease", func(t *testing.T) {
		schema := newSchema(t)
		conn, err := pgx.Connect(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		q := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
		rec, err := json.Marshal(catalogtest.SampleStream("old"))
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{
			`CREATE TABLE IF NOT EXISTS ` + q("catalog_meta") + ` (key text PRIMARY KEY, value text NOT NULL)`,
			`INSERT INTO ` + q("catalog_meta") + ` (key, value) VALUES ('version', '1') ON CONFLICT (key) DO NOTHING`,
			`CREATE TABLE IF NOT EXISTS ` + q("streams") + ` (name text COLLATE "C" PRIMARY KEY, record jsonb NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS ` + q("channels") + ` (name text COLLATE "C" PRIMARY KEY, record jsonb NOT NULL)`,
		} {
			if _, err := conn.Exec(t.Context(), stmt); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := conn.Exec(t.Context(), `INSERT INTO `+q("streams")+` (name, record) VALUES ('old', $1)`, rec); err != nil {
			t.Fatal(err)
		}
		s := open(t, schema)
		if _, err := s.GetStream(t.Context(), "old"); err != nil {
			t.Fatalf("stream of the first release after upgrade: %v", err)
		}
		var v string
		if err := conn.QueryRow(t.Context(), `SELECT value FROM `+q("catalog_meta")+` WHERE key = 'version'`).Scan(&v); err != nil || v != strconv.Itoa(len(s.steps())) {
			t.Fatalf("version after upgrade: %q %v, want %d", v, err, len(s.steps()))
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

func openBench(b *testing.B) *Store {
	s, err := Open(b.Context(), Config{URL: pgtest.Start(b)})
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
