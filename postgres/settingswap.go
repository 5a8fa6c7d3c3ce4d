package postgres

import (
	"context"
	"fmt"
)

// SwapSetting implements gatehouse.SettingStore. One UPDATE: under READ
// COMMITTED a racing UPDATE of the row waits for the first to commit and
// then re-checks the value, so only one of them swaps.
func (db *DB) SwapSetting(ctx context.Context, key, old, new string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE settings SET value = $1 WHERE key = $2 AND value = $3`, new, key, old)
	if err != nil {
		return false, fmt.Errorf("postgres: swap setting: %w", classify(err))
	}
	return tag.RowsAffected() == 1, nil
}
