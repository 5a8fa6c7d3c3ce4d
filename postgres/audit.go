package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
)

// AddAuditEvents implements gatehouse.AuditStore.
func (db *DB) AddAuditEvents(ctx context.Context, events ...*gatehouse.AuditEvent) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		for _, e := range events {
			if err := tx.QueryRow(ctx, `INSERT INTO audit_events (time, type, outcome, user_id, username, client_ip, user_agent, request_id, path, detail, count)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`, e.Time, e.Type, e.Outcome, e.UserID, e.Username,
				e.ClientIP, e.UserAgent, e.RequestID, e.Path, e.Detail, max(e.Count, 1)).Scan(&e.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: add audit events: %w", classify(err))
	}
	return nil
}

// AuditEvents implements gatehouse.AuditStore.
func (db *DB) AuditEvents(ctx context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEvent, error) {
	var where []string
	var args []any
	cond := func(expr string, v any) { // expr holds one "?" for v's placeholder
		args = append(args, v)
		where = append(where, strings.Replace(expr, "?", "$"+strconv.Itoa(len(args)), 1))
	}
	if f.UserID != 0 {
		cond("user_id = ?", f.UserID)
	}
	if f.Type != "" {
		cond("type = ?", f.Type)
	}
	if !f.Since.IsZero() {
		cond("time >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		cond("time < ?", f.Until)
	}
	if f.Before != 0 {
		cond("id < ?", f.Before)
	}
	q := `SELECT id, time, type, outcome, user_id, username, client_ip, user_agent, request_id, path, detail, count FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	args = append(args, f.Limit)
	q += " ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args))
	rows, _ := db.pool.Query(ctx, q, args...)
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*gatehouse.AuditEvent, error) {
		var e gatehouse.AuditEvent
		err := row.Scan(&e.ID, &e.Time, &e.Type, &e.Outcome, &e.UserID, &e.Username, &e.ClientIP, &e.UserAgent, &e.RequestID, &e.Path, &e.Detail, &e.Count)
		return &e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: audit events: %w", classify(err))
	}
	return events, nil
}

// PurgeAudit implements gatehouse.AuditStore.
func (db *DB) PurgeAudit(ctx context.Context, t time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM audit_events WHERE time < $1`, t)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge audit: %w", classify(err))
	}
	return tag.RowsAffected(), nil
}
