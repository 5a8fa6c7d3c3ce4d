package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// UseNonce implements gatehouse.NonceStore.
func (db *DB) UseNonce(ctx context.Context, id string, expires time.Time) (bool, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO nonces (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, id, micros(expires))
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: use nonce: %w", db.classify(err))
	}
	return n == 1, nil
}

// NonceUsed implements gatehouse.NonceStore.
func (db *DB) NonceUsed(ctx context.Context, id string) (bool, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM nonces WHERE id = ?`, id).Scan(&n); err != nil {
		return false, fmt.Errorf("sqlite: nonce used: %w", db.classify(err))
	}
	return n > 0, nil
}
