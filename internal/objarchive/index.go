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

// insert indexes rows (of one stream, in number order) in one statement,
// one round trip: it first moves the stream's head (the newest number ever
// indexed) to the last row's number, on the condition that the head is
// below the first row's; only then are the rows inserted. The head's row
// lock serializes the inserts of a stream across nodes, and PostgreSQL
// checks the condition against the newest head even when another node
// moved it meanwhile. When the head is not below, it returns
// ErrNumberBehind and the head.
func (x *index) insert(ctx context.Context, stream string, rows []row) (last archive.Number, err error) {
	n := len(rows)
	var (
		ms, seq, prod, tc, dur, size, scale, off, end = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n),
			make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		frames       = make([]int32, n)
		tracks, tags = make([][]byte, n), make([][]byte, n)
		objects      = make([]string, n)
	)
	for i, r := range rows {
		f := r.f
		ms[i], seq[i] = int64(f.Number.Millis), int64(f.Number.Seq)
		prod[i], tc[i], dur[i], size[i] = f.ProducerTime.UnixNano(), int64(f.Timecode), int64(f.Duration), f.Size
		frames[i], scale[i] = int32(f.Frames), int64(f.Header.TimecodeScale)
		tracks[i], tags[i] = f.Header.Tracks, f.Tags
		if tracks[i] == nil {
			tracks[i] = []byte{}
		}
		objects[i], off[i], end[i] = r.object, r.off, int64(r.objectEnd)
	}
	first, final := rows[0].f.Number, rows[n-1].f.Number
	tag, err := x.pool.Exec(ctx, `WITH head AS (
			INSERT INTO `+x.heads+` AS h (stream, millis, seq) VALUES ($1, $2, $3)
			ON CONFLICT (stream) DO UPDATE SET millis = EXCLUDED.millis, seq = EXCLUDED.seq
			WHERE (h.millis, h.seq) < ($4, $5)
			RETURNING 1)
		INSERT INTO `+x.fragments+` (stream, millis, seq, producer_ns, timecode, duration_ns, size, frames,
			timecode_scale, tracks, tags, object, off, object_end)
		SELECT $1, * FROM unnest($6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
			$12::integer[], $13::bigint[], $14::bytea[], $15::bytea[], $16::text[], $17::bigint[], $18::bigint[])
		WHERE EXISTS (SELECT 1 FROM head)`,
		stream, int64(final.Millis), int64(final.Seq), int64(first.Millis), int64(first.Seq),
		ms, seq, prod, tc, dur, size, frames, scale, tracks, tags, objects, off, end)
	if err != nil {
		return last, fmt.Errorf("objarchive: index fragments of %s: %w", stream, err)
	}
	if tag.RowsAffected() == int64(n) {
		return last, nil
	}
	var hm, hs int64
	if err := x.pool.QueryRow(ctx, `SELECT millis, seq FROM `+x.heads+` WHERE stream = $1`, stream).Scan(&hm, &hs); err != nil {
		return last, fmt.Errorf("objarchive: head of %s: %w", stream, err)
	}
	last = archive.Number{Millis: uint64(hm), Seq: uint64(hs)}
	return last, fmt.Errorf("%w: %s is at %s, this fragment is %s", ErrNumberBehind, stream, last, first)
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
