package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

func recordUserChange(ctx context.Context, tx *sql.Tx, userID int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO changes (user_id, created_at) VALUES (?, ?)`, userID, micros(time.Now()))
	return err
}

func recordRevocation(ctx context.Context, tx *sql.Tx, r gatehouse.Revocation) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO changes (rev_kind, rev_value, rev_expires, created_at) VALUES (?, ?, ?, ?)`,
		r.Kind, r.Value, micros(r.ExpiresAt), micros(time.Now()))
	return err
}

// LatestChange implements gatehouse.ChangeFeed.
func (db *DB) LatestChange(ctx context.Context) (int64, error) {
	var seq int64
	if err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM changes`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("sqlite: latest change: %w", err)
	}
	return seq, nil
}

// ChangesSince implements gatehouse.ChangeFeed.
func (db *DB) ChangesSince(ctx context.Context, after int64, limit int) ([]gatehouse.Change, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT seq, user_id, api_key_id, rev_kind, rev_value, rev_expires FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: changes since: %w", err)
	}
	defer rows.Close()
	var out []gatehouse.Change
	for rows.Next() {
		var c gatehouse.Change
		var kind, value sql.NullString
		var exp sql.NullInt64
		if err := rows.Scan(&c.Seq, &c.UserID, &c.APIKeyID, &kind, &value, &exp); err != nil {
			return nil, fmt.Errorf("sqlite: changes since: %w", err)
		}
		if kind.Valid {
			c.Revocation = &gatehouse.Revocation{Kind: kind.String, Value: value.String, ExpiresAt: fromNullMicros(exp)}
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: changes since: %w", err)
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
		return 0, fmt.Errorf("sqlite: purge changes: %w", classify(err))
	}
	return n, nil
}
