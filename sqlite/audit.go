package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// AddAuditEvents implements gatehouse.AuditStore.
func (db *DB) AddAuditEvents(ctx context.Context, events ...*gatehouse.AuditEvent) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		for _, e := range events {
			if err := tx.QueryRowContext(ctx, `INSERT INTO audit_events (time, type, outcome, user_id, username, client_ip, user_agent, request_id, path, detail, count)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, micros(e.Time), e.Type, e.Outcome, e.UserID, e.Username,
				e.ClientIP, e.UserAgent, e.RequestID, e.Path, e.Detail, max(e.Count, 1)).Scan(&e.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: add audit events: %w", db.classify(err))
	}
	return nil
}

// AuditEvents implements gatehouse.AuditStore.
func (db *DB) AuditEvents(ctx context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEvent, error) {
	var where []string
	var args []any
	if f.UserID != 0 {
		where, args = append(where, "user_id = ?"), append(args, f.UserID)
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, f.Type)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "time < ?"), append(args, micros(f.Until))
	}
	if f.Before != 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	q := `SELECT id, time, type, outcome, user_id, username, client_ip, user_agent, request_id, path, detail, count FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	q += " ORDER BY id DESC LIMIT ?"
	rows, err := db.read.QueryContext(ctx, q, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit events: %w", db.classify(err))
	}
	defer rows.Close()
	var out []*gatehouse.AuditEvent
	for rows.Next() {
		var e gatehouse.AuditEvent
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Type, &e.Outcome, &e.UserID, &e.Username, &e.ClientIP, &e.UserAgent, &e.RequestID, &e.Path, &e.Detail, &e.Count); err != nil {
			return nil, fmt.Errorf("sqlite: audit events: %w", db.classify(err))
		}
		e.Time = fromMicros(t)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: audit events: %w", db.classify(err))
	}
	return out, nil
}

// PurgeAudit implements gatehouse.AuditStore.
func (db *DB) PurgeAudit(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE time < ?`, micros(t))
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge audit: %w", db.classify(err))
	}
	return n, nil
}
