package objarchive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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
//   - fragment_heads: per stream, the newest number ever indexed (kept when
//     the fragments expire or the stream is deleted, so that numbers are
//     never handed out twice).
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
	}, {
		Name: "stream heads: the newest number indexed per stream, for one-statement ordered inserts",
		SQL: []string{
			`CREATE TABLE ` + q("fragment_heads") + ` (stream text COLLATE "C" PRIMARY KEY, millis bigint NOT NULL, seq bigint NOT NULL)`,
			`INSERT INTO ` + q("fragment_heads") + ` (stream, millis, seq)
				SELECT DISTINCT ON (stream) stream, millis, seq FROM ` + q("fragments") + ` ORDER BY stream, millis DESC, seq DESC`,
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
	heads     string // quoted table name
	nodes     string // quoted sequence name

	reqs    chan *insertReq // to the committers (commit.go)
	stopc   chan struct{}
	commits sync.WaitGroup
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
	x := &index{pool: pool, fragments: q("fragments"), heads: q("fragment_heads"), nodes: q("archive_nodes")}
	_, err = pgmigrate.Apply(ctx, pool, pgmigrate.Plan{Meta: q("catalog_meta"), Key: "fragments_version", Lock: migrateLock, Steps: steps(q)})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("objarchive: %w", err)
	}
	x.startCommitters()
	return x, nil
}

// close stops the committers and closes the connections; callers have no
// insert running.
func (x *index) close() {
	x.stopCommitters()
	x.pool.Close()
}

// register returns this node start's id and the newest number indexed.
func (x *index) register(ctx context.Context) (node uint64, last archive.Number, err error) {
	var id int64
	if err := x.pool.QueryRow(ctx, `SELECT nextval('`+x.nodes+`')`).Scan(&id); err != nil {
		return 0, last, fmt.Errorf("objarchive: node id: %w", err)
	}
	var ms, seq *int64
	err = x.pool.QueryRow(ctx, `SELECT millis, seq FROM `+x.heads+` ORDER BY millis DESC, seq DESC LIMIT 1`).Scan(&ms, &seq)
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
