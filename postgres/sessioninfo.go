package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
)

// Session metadata and browser sessions (migration 008, contract §11).

var (
	_ gatehouse.SessionInfoStore = (*DB)(nil)
	_ gatehouse.UserSearchStore  = (*DB)(nil)
)

// insertSession stores a session row with its metadata.
func insertSession(ctx context.Context, tx pgx.Tx, s *gatehouse.Session) error {
	kind := s.Kind
	if kind == "" {
		kind = gatehouse.SessionToken
	}
	_, err := tx.Exec(ctx, `INSERT INTO sessions (id, user_id, scope, created_at, kind, expires_at, auth_time, amr, client_ip, user_agent, client_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		s.ID, s.UserID, s.Scope, s.CreatedAt, kind, nullTime(s.ExpiresAt), nullTime(s.AuthTime), s.AMR, s.ClientIP, s.UserAgent, s.ClientID)
	return err
}

// purgeBrowserSessions deletes browser sessions expired before now; token
// sessions go when their last refresh token does.
func purgeBrowserSessions(ctx context.Context, tx pgx.Tx, now time.Time) error {
	_, err := tx.Exec(ctx, `DELETE FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= $1`, now)
	return err
}

const sessionColumns = `s.id, s.user_id, s.scope, s.created_at, s.kind, s.expires_at, s.auth_time, s.amr, s.last_used_at, s.client_ip, s.user_agent, s.client_id`

// liveSession is the condition of a session row s that is live at $2.
const liveSession = `s.revoked_at IS NULL AND CASE WHEN s.expires_at IS NOT NULL THEN s.expires_at > $2
	ELSE EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id AND t.used_at IS NULL AND t.expires_at > $2) END`

func scanSession(row pgx.CollectableRow) (*gatehouse.Session, error) {
	var (
		s                      gatehouse.Session
		expires, auth, lastUse *time.Time
	)
	if err := row.Scan(&s.ID, &s.UserID, &s.Scope, &s.CreatedAt, &s.Kind, &expires, &auth, &s.AMR, &lastUse, &s.ClientIP, &s.UserAgent, &s.ClientID); err != nil {
		return nil, err
	}
	s.ExpiresAt, s.AuthTime, s.LastUsedAt = timeOrZero(expires), timeOrZero(auth), timeOrZero(lastUse)
	return &s, nil
}

// UserSessions implements gatehouse.SessionInfoStore.
func (db *DB) UserSessions(ctx context.Context, userID int64, now time.Time, limit int) ([]*gatehouse.Session, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE s.user_id = $1 AND `+liveSession+`
		ORDER BY coalesce(s.last_used_at, s.created_at) DESC, s.id LIMIT $3`, userID, now, limit)
	out, err := pgx.CollectRows(rows, scanSession)
	if err != nil {
		return nil, fmt.Errorf("postgres: user sessions: %w", classify(err))
	}
	return out, nil
}

// LiveSession implements gatehouse.SessionInfoStore.
func (db *DB) LiveSession(ctx context.Context, id string, now time.Time) (*gatehouse.Session, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE s.id = $1 AND `+liveSession, id, now)
	s, err := pgx.CollectExactlyOneRow(rows, scanSession)
	if err != nil {
		return nil, fmt.Errorf("postgres: live session: %w", notFound(classify(err), "Session"))
	}
	return s, nil
}

// TouchSessions implements gatehouse.SessionInfoStore, in one statement.
func (db *DB) TouchSessions(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]string, 0, len(used))
	times := make([]time.Time, 0, len(used))
	for id, t := range used {
		ids, times = append(ids, id), append(times, t)
	}
	_, err := db.pool.Exec(ctx, `UPDATE sessions s SET last_used_at = u.t
		FROM unnest($1::text[], $2::timestamptz[]) AS u(id, t)
		WHERE s.id = u.id AND (s.last_used_at IS NULL OR s.last_used_at < u.t)`, ids, times)
	if err != nil {
		return fmt.Errorf("postgres: touch sessions: %w", classify(err))
	}
	return nil
}

// FindUsers implements gatehouse.UserSearchStore. strpos rather than
// LIKE: nothing in the query is a pattern.
func (db *DB) FindUsers(ctx context.Context, query string, after int64, limit int) ([]*gatehouse.User, error) {
	if query == "" {
		return db.ListUsers(ctx, after, limit)
	}
	rows, _ := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id > $1
		AND (strpos(username_key, $2) > 0 OR strpos(lower(email), $3) > 0) ORDER BY id LIMIT $4`,
		after, gatehouse.UsernameKey(query), strings.ToLower(query), limit)
	users, err := pgx.CollectRows(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("postgres: find users: %w", classify(err))
	}
	return users, nil
}
