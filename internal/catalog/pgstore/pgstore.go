// Package pgstore is the catalog.Store for scale-out deployments: streams and
// channels in PostgreSQL tables that every openkvs node shares.
//
// Each record is one row: the name as primary key (collation "C", so that
// names sort byte-wise as catalog.ListOptions requires) and the record as
// jsonb, in the same JSON encoding boltstore uses. UpdateX locks the row
// (SELECT ... FOR UPDATE) for the length of one transaction, so concurrent
// updates from any number of nodes are serialized per record. Commits are as
// durable as the server's synchronous_commit setting makes them (on by
// default).
//
// Open creates the tables when missing, or upgrades them, by the versioned
// steps of package pgmigrate; the version is a row of table catalog_meta,
// and an advisory lock keeps nodes starting together from racing each
// other.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/pgmigrate"
)

// Errors Open returns (wrapped); test with errors.Is.
var (
	// ErrNoURL: Config.URL is empty.
	ErrNoURL = errors.New("pgstore: no connection URL")
	// ErrVersion: the tables were created by a newer openkvs.
	ErrVersion = errors.New("pgstore: unsupported catalog layout version")
)

// migrateLock is the pg_advisory_xact_lock key Open holds while it creates
// or checks the tables ("okvscat" in ASCII).
const migrateLock = 0x6f6b7673636174

// Config configures Open.
type Config struct {
	// URL is the connection string, as a URL
	// (postgres://user:password@host:port/db?sslmode=verify-full) or as
	// key=value pairs. Pool settings such as pool_max_conns may be given
	// in it. Required.
	URL string
	// Schema is the PostgreSQL schema that holds the tables; it must
	// exist. Defaults to "public".
	Schema string
	// Logger receives open and close messages. Defaults to discarding them.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.URL == "" {
		return ErrNoURL
	}
	if c.Schema == "" {
		c.Schema = "public"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// Store is a catalog.Store in PostgreSQL. It is safe for concurrent use,
// also by several processes sharing the database.
type Store struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	closed   atomic.Bool
	meta     string // qualified name of the meta table
	streams  kind[catalog.Stream]
	channels kind[catalog.Channel]
}

var _ catalog.Store = (*Store)(nil)

// Open connects to the database, creates the tables when missing and checks
// their layout version.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgx hides passwords in this error only as far as it can parse
		// the URL, so the error is not passed on.
		return nil, errors.New("pgstore: cannot parse the connection URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	table := func(name string) string { return pgx.Identifier{cfg.Schema, name}.Sanitize() }
	s := &Store{
		pool: pool,
		log:  cfg.Logger,
		meta: table("catalog_meta"),
		streams: kind[catalog.Stream]{
			table: table("streams"),
			noun:  "stream",
			name:  func(r *catalog.Stream) string { return r.Name },
			utc:   func(r *catalog.Stream) { r.CreationTime = r.CreationTime.UTC() },
		},
		channels: kind[catalog.Channel]{
			table: table("channels"),
			noun:  "channel",
			name:  func(r *catalog.Channel) string { return r.Name },
			utc:   func(r *catalog.Channel) { r.CreationTime = r.CreationTime.UTC() },
		},
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	s.log.Info("catalog opened", "host", pcfg.ConnConfig.Host, "database", pcfg.ConnConfig.Database, "schema", cfg.Schema)
	return s, nil
}

// steps is the catalog's schema history (see package pgmigrate): version
// n is reached after steps[n-1]. Append new steps; never change one that
// was released.
func (s *Store) steps() []pgmigrate.Step {
	return []pgmigrate.Step{{
		Name: "streams and channels as jsonb records",
		SQL: []string{
			`CREATE TABLE IF NOT EXISTS ` + s.streams.table + ` (name text COLLATE "C" PRIMARY KEY, record jsonb NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS ` + s.channels.table + ` (name text COLLATE "C" PRIMARY KEY, record jsonb NOT NULL)`,
		},
	}}
}

// migrate brings the tables to the newest layout, under an advisory lock,
// and refuses a layout newer than this openkvs knows.
func (s *Store) migrate(ctx context.Context) error {
	from, err := pgmigrate.Apply(ctx, s.pool, pgmigrate.Plan{Meta: s.meta, Key: "version", Lock: migrateLock, Steps: s.steps()})
	if errors.Is(err, pgmigrate.ErrNewer) {
		return fmt.Errorf("%w (%w)", ErrVersion, err)
	}
	if err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	if to := len(s.steps()); from != to {
		s.log.Info("catalog layout migrated", "from", from, "to", to)
	}
	return nil
}

// Close closes every connection, after waiting for the calls in progress.
// Later calls fail with catalog.ErrClosed; closing again returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.pool.Close()
	s.log.Info("catalog closed")
	return nil
}

func (s *Store) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return catalog.ErrClosed
	}
	return nil
}

// fail turns the error of a call that raced with Close into
// catalog.ErrClosed.
func (s *Store) fail(err error) error {
	if err != nil && s.closed.Load() && !errors.Is(err, catalog.ErrClosed) {
		return fmt.Errorf("%w (%w)", catalog.ErrClosed, err)
	}
	return err
}

// kind describes how one record type is stored.
type kind[T any] struct {
	table string // quoted, schema-qualified
	noun  string
	name  func(*T) string
	utc   func(*T) // converts the record's times to UTC
}

func (k kind[T]) encode(rec *T) ([]byte, error) {
	c := *rec // shallow copy, so the caller's record keeps its time zone
	k.utc(&c)
	return json.Marshal(&c)
}

func (k kind[T]) decode(name string, data []byte) (*T, error) {
	rec := new(T)
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("pgstore: %s %q: corrupt record: %w", k.noun, name, err)
	}
	k.utc(rec)
	return rec, nil
}

func create[T any](ctx context.Context, s *Store, k kind[T], rec *T) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	name := k.name(rec)
	if name == "" {
		return fmt.Errorf("pgstore: create %s: empty name", k.noun)
	}
	data, err := k.encode(rec)
	if err != nil {
		return fmt.Errorf("pgstore: create %s %q: %w", k.noun, name, err)
	}
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO `+k.table+` (name, record) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, data)
	if err != nil {
		return s.fail(fmt.Errorf("pgstore: create %s %q: %w", k.noun, name, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: create %s %q: %w", k.noun, name, catalog.ErrExists)
	}
	return nil
}

func get[T any](ctx context.Context, s *Store, k kind[T], name string) (*T, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT record FROM `+k.table+` WHERE name = $1`, name).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: get %s %q: %w", k.noun, name, catalog.ErrNotFound)
	}
	if err != nil {
		return nil, s.fail(fmt.Errorf("pgstore: get %s %q: %w", k.noun, name, err))
	}
	return k.decode(name, data)
}

// errFn carries fn's error out of the transaction unchanged.
type errFn struct{ err error }

func (e errFn) Error() string { return e.err.Error() }

func update[T any](ctx context.Context, s *Store, k kind[T], name string, fn func(*T) error) (*T, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var data []byte
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var old []byte
		err := tx.QueryRow(ctx, `SELECT record FROM `+k.table+` WHERE name = $1 FOR UPDATE`, name).Scan(&old)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("pgstore: update %s %q: %w", k.noun, name, catalog.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("pgstore: update %s %q: %w", k.noun, name, err)
		}
		rec, err := k.decode(name, old)
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return errFn{err}
		}
		if got := k.name(rec); got != name {
			return fmt.Errorf("pgstore: update %s %q: the update renamed it to %q", k.noun, name, got)
		}
		if data, err = k.encode(rec); err != nil {
			return fmt.Errorf("pgstore: update %s %q: %w", k.noun, name, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE `+k.table+` SET record = $2 WHERE name = $1`, name, data); err != nil {
			return fmt.Errorf("pgstore: update %s %q: %w", k.noun, name, err)
		}
		return nil
	})
	if fe, ok := errors.AsType[errFn](err); ok {
		return nil, fe.err // returned as is, so callers can match their own errors
	}
	if err != nil {
		return nil, s.fail(err)
	}
	return k.decode(name, data)
}

func remove[T any](ctx context.Context, s *Store, k kind[T], name string) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM `+k.table+` WHERE name = $1`, name)
	if err != nil {
		return s.fail(fmt.Errorf("pgstore: delete %s %q: %w", k.noun, name, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: delete %s %q: %w", k.noun, name, catalog.ErrNotFound)
	}
	return nil
}

func list[T any](ctx context.Context, s *Store, k kind[T], opt catalog.ListOptions) ([]*T, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var limit *int // NULL: LIMIT ALL
	if opt.Limit > 0 {
		limit = &opt.Limit
	}
	// name >= prefix lets the primary key index start the scan at the
	// prefix; starts_with ends it.
	rows, err := s.pool.Query(ctx, `SELECT name, record FROM `+k.table+`
		WHERE name >= $1 AND starts_with(name, $1) AND name > $2
		ORDER BY name LIMIT $3`, opt.Prefix, opt.After, limit)
	if err != nil {
		return nil, s.fail(fmt.Errorf("pgstore: list %ss: %w", k.noun, err))
	}
	defer rows.Close()
	var recs []*T
	for rows.Next() {
		var (
			name string
			data []byte
		)
		if err := rows.Scan(&name, &data); err != nil {
			return nil, s.fail(fmt.Errorf("pgstore: list %ss: %w", k.noun, err))
		}
		rec, err := k.decode(name, data)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(fmt.Errorf("pgstore: list %ss: %w", k.noun, err))
	}
	return recs, nil
}

func count[T any](ctx context.Context, s *Store, k kind[T]) (int, error) {
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+k.table).Scan(&n); err != nil {
		return 0, s.fail(fmt.Errorf("pgstore: count %ss: %w", k.noun, err))
	}
	return n, nil
}

// CreateStream implements catalog.Store.
func (s *Store) CreateStream(ctx context.Context, st *catalog.Stream) error {
	if err := catalog.CheckName(st.Name); err != nil {
		return err
	}
	return create(ctx, s, s.streams, st)
}

// GetStream implements catalog.Store.
func (s *Store) GetStream(ctx context.Context, name string) (*catalog.Stream, error) {
	return get(ctx, s, s.streams, name)
}

// UpdateStream implements catalog.Store. fn runs while the row is locked:
// it must be quick and must not call the store.
func (s *Store) UpdateStream(ctx context.Context, name string, fn func(*catalog.Stream) error) (*catalog.Stream, error) {
	return update(ctx, s, s.streams, name, fn)
}

// DeleteStream implements catalog.Store.
func (s *Store) DeleteStream(ctx context.Context, name string) error {
	return remove(ctx, s, s.streams, name)
}

// ListStreams implements catalog.Store.
func (s *Store) ListStreams(ctx context.Context, opt catalog.ListOptions) ([]*catalog.Stream, error) {
	return list(ctx, s, s.streams, opt)
}

// CountStreams implements catalog.Store.
func (s *Store) CountStreams(ctx context.Context) (int, error) {
	return count(ctx, s, s.streams)
}

// CreateChannel implements catalog.Store.
func (s *Store) CreateChannel(ctx context.Context, c *catalog.Channel) error {
	if err := catalog.CheckName(c.Name); err != nil {
		return err
	}
	return create(ctx, s, s.channels, c)
}

// GetChannel implements catalog.Store.
func (s *Store) GetChannel(ctx context.Context, name string) (*catalog.Channel, error) {
	return get(ctx, s, s.channels, name)
}

// UpdateChannel implements catalog.Store, with the same rules for fn as
// UpdateStream.
func (s *Store) UpdateChannel(ctx context.Context, name string, fn func(*catalog.Channel) error) (*catalog.Channel, error) {
	return update(ctx, s, s.channels, name, fn)
}

// DeleteChannel implements catalog.Store.
func (s *Store) DeleteChannel(ctx context.Context, name string) error {
	return remove(ctx, s, s.channels, name)
}

// ListChannels implements catalog.Store.
func (s *Store) ListChannels(ctx context.Context, opt catalog.ListOptions) ([]*catalog.Channel, error) {
	return list(ctx, s, s.channels, opt)
}

// CountChannels implements catalog.Store.
func (s *Store) CountChannels(ctx context.Context) (int, error) {
	return count(ctx, s, s.channels)
}
