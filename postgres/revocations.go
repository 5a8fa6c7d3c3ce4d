package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
)

// addRevocations stores revs and records them in the change feed.
func (db *DB) addRevocations(ctx context.Context, tx pgx.Tx, revs []gatehouse.Revocation) error {
	if len(revs) == 0 {
		return nil
	}
	changes, err := storeRevocations(ctx, tx, revs)
	if err != nil {
		return err
	}
	return db.recordChanges(ctx, tx, changes...)
}

// storeRevocations stores revs and returns the change-feed entries that
// announce them; storing one twice keeps the later expiry.
func storeRevocations(ctx context.Context, tx pgx.Tx, revs []gatehouse.Revocation) ([]gatehouse.Change, error) {
	changes := make([]gatehouse.Change, len(revs))
	for i, r := range revs {
		if _, err := tx.Exec(ctx, `INSERT INTO revocations (kind, value, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (kind, value) DO UPDATE SET expires_at = greatest(revocations.expires_at, excluded.expires_at)`,
			r.Kind, r.Value, r.ExpiresAt); err != nil {
			return nil, err
		}
		changes[i].Revocation = &revs[i]
	}
	return changes, nil
}

// AddRevocations implements gatehouse.RevocationStore.
func (db *DB) AddRevocations(ctx context.Context, revs ...gatehouse.Revocation) error {
	if err := db.tx(ctx, func(tx pgx.Tx) error { return db.addRevocations(ctx, tx, revs) }); err != nil {
		return fmt.Errorf("postgres: add revocations: %w", classify(err))
	}
	return nil
}

// EachRevocation implements gatehouse.RevocationStore.
func (db *DB) EachRevocation(ctx context.Context, now time.Time, fn func(gatehouse.Revocation) error) error {
	rows, err := db.pool.Query(ctx, `SELECT kind, value, expires_at FROM revocations WHERE expires_at > $1`, now)
	if err != nil {
		return fmt.Errorf("postgres: revocations: %w", classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var r gatehouse.Revocation
		if err := rows.Scan(&r.Kind, &r.Value, &r.ExpiresAt); err != nil {
			return fmt.Errorf("postgres: revocations: %w", classify(err))
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: revocations: %w", classify(err))
	}
	return nil
}

// CountRevocations implements gatehouse.RevocationStore.
func (db *DB) CountRevocations(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM revocations WHERE expires_at > $1`, now).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count revocations: %w", classify(err))
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
	err := db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM revocations WHERE expires_at <= $1`, now)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `DELETE FROM nonces WHERE expires_at <= $1`, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: purge revocations: %w", classify(err))
	}
	return n, nil
}
