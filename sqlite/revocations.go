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

// Revocations implements gatehouse.RevocationStore.
func (db *DB) Revocations(ctx context.Context, now time.Time) ([]gatehouse.Revocation, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT kind, value, expires_at FROM revocations WHERE expires_at > ?`, micros(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: revocations: %w", db.classify(err))
	}
	defer rows.Close()
	var out []gatehouse.Revocation
	for rows.Next() {
		var r gatehouse.Revocation
		var exp int64
		if err := rows.Scan(&r.Kind, &r.Value, &exp); err != nil {
			return nil, fmt.Errorf("sqlite: revocations: %w", db.classify(err))
		}
		r.ExpiresAt = fromMicros(exp)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: revocations: %w", db.classify(err))
	}
	return out, nil
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
