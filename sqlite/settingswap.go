package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// SwapSetting implements gatehouse.SettingStore.
func (db *DB) SwapSetting(ctx context.Context, key, old, new string) (bool, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE settings SET value = ? WHERE key = ? AND value = ?`, new, key, old)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: swap setting: %w", db.classify(err))
	}
	return n == 1, nil
}
