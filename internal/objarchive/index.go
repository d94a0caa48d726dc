package objarchive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/pgmigrate"
)

// The index's tables, in the catalog's database and beside its meta
// table:
//
//   - fragments: one row per persisted fragment, keyed by stream and
//     number (millis, seq), with its producer time, timecode, duration,
//     size, frame count, header (timecode scale and Tracks), tags and where
//     its Cluster bytes are: object key and offset, and object_end, the
//     millis of the object's last fragment (retention deletes an object's
//     rows together, once its newest fragment expired).
//   - archive_nodes: a sequence giving each node start its id.
//
// An index on (stream, producer_ns) serves producer-time queries.
func steps(q func(string) string) []pgmigrate.Step {
	return []pgmigrate.Step{{
		Name: "fragment index",
		SQL: []string{
			`CREATE TABLE ` + q("fragments") + ` (
				stream text COLLATE "C" NOT NULL,
				millis bigint NOT NULL,
				seq bigint NOT NULL,
				producer_ns bigint NOT NULL,
				timecode bigint NOT NULL,
				duration_ns bigint NOT NULL,
				size bigint NOT NULL,
				frames integer NOT NULL,
				timecode_scale bigint NOT NULL,
				tracks bytea NOT NULL,
				tags bytea,
				object text COLLATE "C" NOT NULL,
				off bigint NOT NULL,
				object_end bigint NOT NULL,
				PRIMARY KEY (stream, millis, seq))`,
			`CREATE INDEX ON ` + q("fragments") + ` (stream, producer_ns)`,
			`CREATE SEQUENCE ` + q("archive_nodes"),
		},
	}}
}

// migrateLock is the advisory lock key of the index's migrations ("okvsidx").
const migrateLock = 0x6f6b7673696478

// defaultMaxConns bounds the index's connections unless the URL sets
// pool_max_conns.
const defaultMaxConns = 16

type index struct {
	pool      *pgxpool.Pool
	fragments string // quoted table name
	nodes     string // quoted sequence name
}

func openIndex(ctx context.Context, url, schema string) (*index, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("objarchive: cannot parse the index's connection URL") // may hold a password
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (4 on two cores) makes the uploads of many
		// streams queue for a connection.
		pcfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("objarchive: %w", err)
	}
	q := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
	x := &index{pool: pool, fragments: q("fragments"), nodes: q("archive_nodes")}
	_, err = pgmigrate.Apply(ctx, pool, pgmigrate.Plan{Meta: q("catalog_meta"), Key: "fragments_version", Lock: migrateLock, Steps: steps(q)})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("objarchive: %w", err)
	}
	return x, nil
}

func (x *index) close() { x.pool.Close() }

// register returns this node start's id and the newest number indexed.
func (x *index) register(ctx context.Context) (node uint64, last archive.Number, err error) {
	var id int64
	if err := x.pool.QueryRow(ctx, `SELECT nextval('`+x.nodes+`')`).Scan(&id); err != nil {
		return 0, last, fmt.Errorf("objarchive: node id: %w", err)
	}
	var ms, seq *int64
	err = x.pool.QueryRow(ctx, `SELECT millis, seq FROM `+x.fragments+` ORDER BY millis DESC, seq DESC LIMIT 1`).Scan(&ms, &seq)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, last, fmt.Errorf("objarchive: newest fragment: %w", err)
	}
	if ms != nil {
		last = archive.Number{Millis: uint64(*ms), Seq: uint64(*seq)}
	}
	return uint64(id) % (1 << nodeBits), last, nil
}

// row is one index row to insert.
type row struct {
	f         *archive.Fragment
	object    string
	off       int64
	objectEnd uint64
}

// insert indexes rows (of one stream, in number order) in one transaction
// that holds the stream's advisory lock, after checking that the first
// number is above the stream's newest; when it is not, it returns
// ErrNumberBehind and that newest number.
func (x *index) insert(ctx context.Context, stream string, rows []row) (last archive.Number, err error) {
	err = pgx.BeginFunc(ctx, x.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "okvs-fragments/"+stream); err != nil {
			return fmt.Errorf("objarchive: lock stream: %w", err)
		}
		var ms, seq int64
		err := tx.QueryRow(ctx, `SELECT millis, seq FROM `+x.fragments+` WHERE stream = $1 ORDER BY millis DESC, seq DESC LIMIT 1`, stream).Scan(&ms, &seq)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("objarchive: newest fragment of %s: %w", stream, err)
		}
		if err == nil {
			last = archive.Number{Millis: uint64(ms), Seq: uint64(seq)}
			if !last.Less(rows[0].f.Number) {
				return fmt.Errorf("%w: %s has %s, this fragment is %s", ErrNumberBehind, stream, last, rows[0].f.Number)
			}
		}
		b := &pgx.Batch{}
		for _, r := range rows {
			f := r.f
			tracks := f.Header.Tracks
			if tracks == nil {
				tracks = []byte{}
			}
			b.Queue(`INSERT INTO `+x.fragments+` (stream, millis, seq, producer_ns, timecode, duration_ns, size, frames,
				timecode_scale, tracks, tags, object, off, object_end) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
				stream, int64(f.Number.Millis), int64(f.Number.Seq), f.ProducerTime.UnixNano(), int64(f.Timecode), int64(f.Duration),
				f.Size, f.Frames, int64(f.Header.TimecodeScale), tracks, f.Tags, r.object, r.off, int64(r.objectEnd))
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("objarchive: index fragments of %s: %w", stream, err)
		}
		return nil
	})
	return last, err
}

// scanCols is the column list read back into fragments.
const scanCols = `millis, seq, producer_ns, timecode, duration_ns, size, frames, timecode_scale, tracks, tags`

func (a *Archive) scan(rows pgx.Rows) ([]*archive.Fragment, error) {
	defer rows.Close()
	var out []*archive.Fragment
	for rows.Next() {
		var (
			ms, seq, prod, tc, dur, size, scale int64
			frames                              int
			tracks, tags                        []byte
		)
		if err := rows.Scan(&ms, &seq, &prod, &tc, &dur, &size, &frames, &scale, &tracks, &tags); err != nil {
			return nil, fmt.Errorf("objarchive: read index: %w", err)
		}
		out = append(out, &archive.Fragment{
			Number:       archive.Number{Millis: uint64(ms), Seq: uint64(seq)},
			ProducerTime: time.Unix(0, prod).UTC(),
			Timecode:     uint64(tc),
			Duration:     time.Duration(dur),
			Size:         size,
			Frames:       frames,
			Header:       a.headers.get(uint64(scale), tracks),
			Tags:         tags,
		})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("objarchive: read index: %w", err)
	}
	return out, nil
}
