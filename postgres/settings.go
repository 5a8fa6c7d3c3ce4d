package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Setting implements gatehouse.SettingStore.
func (db *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	if err := db.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v); err != nil {
		return "", fmt.Errorf("postgres: setting: %w", notFound(classify(err), "Setting"))
	}
	return v, nil
}

// SetSettingIfAbsent implements gatehouse.SettingStore. The SELECT is a
// separate statement so that, under READ COMMITTED, it sees the row that a
// concurrent instance committed when the INSERT found it there.
func (db *DB) SetSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	var v string
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	})
	if err != nil {
		return "", fmt.Errorf("postgres: set setting: %w", classify(err))
	}
	return v, nil
}
