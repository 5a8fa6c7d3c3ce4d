package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

// addRevocations stores revs and records them in the change feed.
func (db *DB) addRevocations(ctx context.Context, tx *sql.Tx, revs []gatehouse.Revocation) error {
	changes, err := storeRevocations(ctx, tx, revs)
	if err != nil {
		return err
	}
	return db.recordChanges(ctx, tx, changes...)
}

// storeRevocations stores revs and returns the change-feed entries that
// announce them; storing one twice keeps the later expiry.
func storeRevocations(ctx context.Context, tx *sql.Tx, revs []gatehouse.Revocation) ([]gatehouse.Change, error) {
	changes := make([]gatehouse.Change, len(revs))
	for i, r := range revs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO revocations (kind, value, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (kind, value) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
			r.Kind, r.Value, micros(r.ExpiresAt)); err != nil {
			return nil, err
		}
		changes[i].Revocation = &revs[i]
	}
	return changes, nil
}

// AddRevocations implements gatehouse.RevocationStore.
func (db *DB) AddRevocations(ctx context.Context, revs ...gatehouse.Revocation) error {
	if err := db.tx(ctx, func(tx *sql.Tx) error { return db.addRevocations(ctx, tx, revs) }); err != nil {
		return fmt.Errorf("sqlite: add revocations: %w", db.classify(err))
	}
	return nil
}

// EachRevocation implements gatehouse.RevocationStore. It reads the table
// in rowid order (NOT INDEXED): the purger keeps nearly every row live, and
// a scan is about twice as fast as a row lookup per entry of the expiry
// index (0.85 s against 1.3–1.9 s for a million, on a shared 2-core box).
func (db *DB) EachRevocation(ctx context.Context, now time.Time, fn func(gatehouse.Revocation) error) error {
	rows, err := db.read.QueryContext(ctx, `SELECT kind, value, expires_at FROM revocations NOT INDEXED WHERE expires_at > ?`, micros(now))
	if err != nil {
		return fmt.Errorf("sqlite: revocations: %w", db.classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var r gatehouse.Revocation
		var exp int64
		if err := rows.Scan(&r.Kind, &r.Value, &exp); err != nil {
			return fmt.Errorf("sqlite: revocations: %w", db.classify(err))
		}
		r.ExpiresAt = fromMicros(exp)
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: revocations: %w", db.classify(err))
	}
	return nil
}

// CountRevocations implements gatehouse.RevocationStore.
func (db *DB) CountRevocations(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM revocations WHERE expires_at > ?`, micros(now)).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count revocations: %w", db.classify(err))
	}
	return n, nil
}

// Revocations returns every revocation unexpired at now, in one slice: for
// tests and tools; the server streams them (EachRevocation).
func (db *DB) Revocations(ctx context.Context, now time.Time) ([]gatehouse.Revocation, error) {
	return gatehouse.CollectRevocations(ctx, db, now)
}

// PurgeRevocations implements gatehouse.RevocationStore.
func (db *DB) PurgeRevocations(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM revocations WHERE expires_at <= ?`, micros(now))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, `DELETE FROM nonces WHERE expires_at <= ?`, micros(now))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge revocations: %w", db.classify(err))
	}
	return n, nil
}
