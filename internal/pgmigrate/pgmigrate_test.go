package pgmigrate

import (
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openkvs/openkvs/internal/testinfra/pgtest"
)

func TestApply(t *testing.T) {
	dsn := pgtest.Start(t)
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	plan := func(schema string, steps ...Step) Plan {
		return Plan{Meta: pgx.Identifier{schema, "meta"}.Sanitize(), Key: "v", Lock: 42, Steps: steps}
	}
	s1 := Step{Name: "create t", SQL: []string{`CREATE TABLE t (a int)`}}
	s2 := Step{Name: "add b", SQL: []string{`ALTER TABLE t ADD COLUMN b int NOT NULL DEFAULT 7`}}
	bad := Step{Name: "broken", SQL: []string{`ALTER TABLE t ADD COLUMN c int`, `SELECT nonsense FROM nowhere`}}

	t.Run("Upgrade", func(t *testing.T) {
		schema := pgtest.NewSchema(t, dsn)
		pool := searchPath(t, dsn, schema)
		if from, err := Apply(t.Context(), pool, plan(schema, s1)); err != nil || from != 0 {
			t.Fatalf("first Apply: from %d, %v", from, err)
		}
		if _, err := pool.Exec(t.Context(), `INSERT INTO t (a) VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		if from, err := Apply(t.Context(), pool, plan(schema, s1, s2)); err != nil || from != 1 {
			t.Fatalf("upgrade: from %d, %v", from, err)
		}
		var a, b int
		if err := pool.QueryRow(t.Context(), `SELECT a, b FROM t`).Scan(&a, &b); err != nil || a != 1 || b != 7 {
			t.Fatalf("row after upgrade: %d %d %v", a, b, err)
		}
		if from, err := Apply(t.Context(), pool, plan(schema, s1, s2)); err != nil || from != 2 {
			t.Fatalf("again: from %d, %v", from, err)
		}
		if _, err := Apply(t.Context(), pool, plan(schema, s1)); !errors.Is(err, ErrNewer) {
			t.Fatalf("older plan on a newer database: %v, want ErrNewer", err)
		}
	})

	t.Run("FailedStepChangesNothing", func(t *testing.T) {
		schema := pgtest.NewSchema(t, dsn)
		pool := searchPath(t, dsn, schema)
		if _, err := Apply(t.Context(), pool, plan(schema, s1)); err != nil {
			t.Fatal(err)
		}
		if _, err := Apply(t.Context(), pool, plan(schema, s1, bad)); err == nil {
			t.Fatal("broken step applied")
		}
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 't' AND column_name = 'c'`, schema).Scan(&n); err != nil || n != 0 {
			t.Fatalf("half-applied step left column c: %d %v", n, err)
		}
		if from, err := Apply(t.Context(), pool, plan(schema, s1, s2)); err != nil || from != 1 {
			t.Fatalf("after the failure: from %d, %v", from, err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		schema := pgtest.NewSchema(t, dsn)
		pool := searchPath(t, dsn, schema)
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() { _, errs[i] = Apply(t.Context(), pool, plan(schema, s1, s2)) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("concurrent Apply: %v", err)
			}
		}
	})
}

// searchPath returns a pool whose unqualified names resolve in schema.
func searchPath(t *testing.T, dsn, schema string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
