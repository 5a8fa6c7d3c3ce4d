package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// Setting implements gatehouse.SettingStore.
func (db *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	if err := db.read.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v); err != nil {
		return "", fmt.Errorf("sqlite: setting: %w", notFound(db.classify(err), "Setting"))
	}
	return v, nil
}

// SetSettingIfAbsent implements gatehouse.SettingStore.
func (db *DB) SetSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	var v string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	})
	if err != nil {
		return "", fmt.Errorf("sqlite: set setting: %w", db.classify(err))
	}
	return v, nil
}
