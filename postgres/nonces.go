package postgres

import (
	"context"
	"fmt"
	"time"
)

// UseNonce implements gatehouse.NonceStore. A concurrent INSERT of the same
// id waits for the first to commit, then does nothing.
func (db *DB) UseNonce(ctx context.Context, id string, expires time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO nonces (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, id, expires)
	if err != nil {
		return false, fmt.Errorf("postgres: use nonce: %w", classify(err))
	}
	return tag.RowsAffected() == 1, nil
}

// NonceUsed implements gatehouse.NonceStore.
func (db *DB) NonceUsed(ctx context.Context, id string) (bool, error) {
	var used bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM nonces WHERE id = $1)`, id).Scan(&used); err != nil {
		return false, fmt.Errorf("postgres: nonce used: %w", classify(err))
	}
	return used, nil
}
