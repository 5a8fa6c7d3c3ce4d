package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
)

// recordChanges appends cs to the change feed. It must be the last
// statement of its transaction: sequence numbers are drawn when a row is
// inserted but become visible at commit, so two writers could commit out
// of order and a poller that has read seq 6 would never see 5. The
// advisory lock, held until commit, makes writers draw and commit in turn;
// taking it last keeps that queue short and free of lock cycles.
func (db *DB) recordChanges(ctx context.Context, tx pgx.Tx, cs ...gatehouse.Change) error {
	if err := advisoryLock(ctx, tx, lockChanges); err != nil {
		return err
	}
	now := db.now()
	for _, c := range cs {
		var kind, value *string
		var expires *time.Time
		if r := c.Revocation; r != nil {
			kind, value, expires = &r.Kind, &r.Value, &r.ExpiresAt
		}
		if _, err := tx.Exec(ctx, `INSERT INTO changes (user_id, api_key_id, rev_kind, rev_value, rev_expires, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			c.UserID, c.APIKeyID, kind, value, expires, now); err != nil {
			return err
		}
	}
	return nil
}

// LatestChange implements gatehouse.ChangeFeed.
func (db *DB) LatestChange(ctx context.Context) (int64, error) {
	var seq int64
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM changes`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("postgres: latest change: %w", classify(err))
	}
	return seq, nil
}

// ChangesSince implements gatehouse.ChangeFeed.
func (db *DB) ChangesSince(ctx context.Context, after int64, limit int) ([]gatehouse.Change, error) {
	rows, _ := db.pool.Query(ctx, `SELECT seq, user_id, api_key_id, rev_kind, rev_value, rev_expires FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	changes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gatehouse.Change, error) {
		var c gatehouse.Change
		var kind, value *string
		var expires *time.Time
		if err := row.Scan(&c.Seq, &c.UserID, &c.APIKeyID, &kind, &value, &expires); err != nil {
			return c, err
		}
		if kind != nil {
			c.Revocation = &gatehouse.Revocation{Kind: *kind, Value: *value, ExpiresAt: timeOrZero(expires)}
		}
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: changes since: %w", classify(err))
	}
	return changes, nil
}

// PurgeChanges implements gatehouse.ChangeFeed. The newest change is kept
// so that LatestChange never goes back to 0.
func (db *DB) PurgeChanges(ctx context.Context, t time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM changes WHERE created_at < $1 AND seq < (SELECT max(seq) FROM changes)`, t)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge changes: %w", classify(err))
	}
	return tag.RowsAffected(), nil
}
