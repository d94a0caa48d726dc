// Package pgmigrate applies versioned schema steps to a PostgreSQL
// database, for the packages that keep tables there (the catalog, the
// fragment index).
//
// Each component records its version as a row of a meta table (key,
// value). Apply runs, in one transaction holding an advisory lock, every
// step after the recorded version and records the new one, so that nodes
// starting together neither race nor apply a step twice, and a failed step
// leaves the database as it was. A database whose version is newer than
// the steps known is refused (ErrNewer): an older openkvs must not write
// tables it does not understand.
package pgmigrate

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// ErrNewer is returned (wrapped) when the database was migrated by a newer
// openkvs than this one.
var ErrNewer = errors.New("pgmigrate: the database's layout is newer than this openkvs")

// Beginner starts transactions (a *pgxpool.Pool or *pgx.Conn).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Step is one schema change. Its statements run in order, in the
// migration's transaction.
type Step struct {
	// Name says what the step does, for logs and errors.
	Name string
	// SQL are the statements.
	SQL []string
}

// Plan is the schema history of one component.
type Plan struct {
	// Meta is the quoted, schema-qualified name of the (key text, value
	// text) table holding versions; Apply creates it when missing.
	Meta string
	// Key is the component's row in Meta, e.g. "version".
	Key string
	// Lock is the pg_advisory_xact_lock key held while migrating.
	Lock int64
	// Steps are the changes in order: version n is reached after
	// Steps[n-1].
	Steps []Step
}

// Apply brings the database to len(p.Steps) and returns the version found
// before.
func Apply(ctx context.Context, db Beginner, p Plan) (from int, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, p.Lock); err != nil {
			return fmt.Errorf("pgmigrate: lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+p.Meta+` (key text PRIMARY KEY, value text NOT NULL)`); err != nil {
			return fmt.Errorf("pgmigrate: create %s: %w", p.Meta, err)
		}
		var v string
		err := tx.QueryRow(ctx, `SELECT value FROM `+p.Meta+` WHERE key = $1`, p.Key).Scan(&v)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			from = 0
		case err != nil:
			return fmt.Errorf("pgmigrate: read %s: %w", p.Key, err)
		default:
			if from, err = strconv.Atoi(v); err != nil || from < 0 {
				return fmt.Errorf("pgmigrate: %s is %q, not a version number", p.Key, v)
			}
		}
		if from > len(p.Steps) {
			return fmt.Errorf("%w: %s is %d, this openkvs knows up to %d", ErrNewer, p.Key, from, len(p.Steps))
		}
		for i := from; i < len(p.Steps); i++ {
			for _, q := range p.Steps[i].SQL {
				if _, err := tx.Exec(ctx, q); err != nil {
					return fmt.Errorf("pgmigrate: %s step %d (%s): %w", p.Key, i+1, p.Steps[i].Name, err)
				}
			}
		}
		if from == len(p.Steps) {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO `+p.Meta+` (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, p.Key, strconv.Itoa(len(p.Steps)))
		if err != nil {
			return fmt.Errorf("pgmigrate: record %s: %w", p.Key, err)
		}
		return nil
	})
	return from, err
}
