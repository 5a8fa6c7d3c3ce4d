package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

// recordChanges appends cs to the change feed, in the transaction of the
// changes themselves. Unlike PostgreSQL, no lock is needed for sequence
// numbers to become visible in order: every write goes through the one
// writer connection, so transactions draw and commit them in turn.
func (db *DB) recordChanges(ctx context.Context, tx *sql.Tx, cs ...gatehouse.Change) error {
	now := micros(db.now())
	for _, c := range cs {
		var kind, value sql.NullString
		var expires sql.NullInt64
		if r := c.Revocation; r != nil {
			kind = sql.NullString{String: r.Kind, Valid: true}
			value = sql.NullString{String: r.Value, Valid: true}
			expires = sql.NullInt64{Int64: micros(r.ExpiresAt), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO changes (user_id, api_key_id, rev_kind, rev_value, rev_expires, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			c.UserID, c.APIKeyID, kind, value, expires, now); err != nil {
			return err
		}
	}
	return nil
}

// LatestChange implements gatehouse.ChangeFeed.
func (db *DB) LatestChange(ctx context.Context) (int64, error) {
	var seq int64
	if err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM changes`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("sqlite: latest change: %w", db.classify(err))
	}
	return seq, nil
}

// ChangesSince implements gatehouse.ChangeFeed.
func (db *DB) ChangesSince(ctx context.Context, after int64, limit int) ([]gatehouse.Change, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT seq, user_id, api_key_id, rev_kind, rev_value, rev_expires FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: changes since: %w", db.classify(err))
	}
	defer rows.Close()
	var out []gatehouse.Change
	for rows.Next() {
		var c gatehouse.Change
		var kind, value sql.NullString
		var exp sql.NullInt64
		if err := rows.Scan(&c.Seq, &c.UserID, &c.APIKeyID, &kind, &value, &exp); err != nil {
			return nil, fmt.Errorf("sqlite: changes since: %w", db.classify(err))
		}
		if kind.Valid {
			c.Revocation = &gatehouse.Revocation{Kind: kind.String, Value: value.String, ExpiresAt: fromNullMicros(exp)}
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: changes since: %w", db.classify(err))
	}
	return out, nil
}

// PurgeChanges implements gatehouse.ChangeFeed. The newest change is kept
// so that sequence numbers never restart.
func (db *DB) PurgeChanges(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM changes WHERE created_at < ? AND seq < (SELECT max(seq) FROM changes)`, micros(t))
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge changes: %w", db.classify(err))
	}
	return n, nil
}
