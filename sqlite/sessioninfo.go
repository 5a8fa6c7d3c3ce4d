package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Session metadata and browser sessions (migration 008, contract §11).

var (
	_ gatehouse.SessionInfoStore = (*DB)(nil)
	_ gatehouse.UserSearchStore  = (*DB)(nil)
)

// insertSession stores a session row with its metadata.
func insertSession(ctx context.Context, tx *sql.Tx, s *gatehouse.Session) error {
	kind := s.Kind
	if kind == "" {
		kind = gatehouse.SessionToken
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, scope, created_at, kind, expires_at, auth_time, amr, client_ip, user_agent, client_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.UserID, s.Scope, micros(s.CreatedAt), kind, nullMicros(s.ExpiresAt), nullMicros(s.AuthTime), s.AMR, s.ClientIP, s.UserAgent, s.ClientID)
	return err
}

// purgeBrowserSessions deletes browser sessions expired before now; token
// sessions go when their last refresh token does.
func purgeBrowserSessions(ctx context.Context, tx *sql.Tx, now time.Time) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= ?`, micros(now))
	return err
}

const sessionColumns = `id, user_id, scope, created_at, kind, expires_at, auth_time, amr, last_used_at, client_ip, user_agent, client_id`

// liveSession is the condition of a session row s that is live at the
// time given twice as parameters.
const liveSession = `s.revoked_at IS NULL AND CASE WHEN s.expires_at IS NOT NULL THEN s.expires_at > ?
	ELSE EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id AND t.used_at IS NULL AND t.expires_at > ?) END`

func scanSession(sc scanner) (*gatehouse.Session, error) {
	var (
		s                      gatehouse.Session
		created                int64
		expires, auth, lastUse sql.NullInt64
	)
	if err := sc.Scan(&s.ID, &s.UserID, &s.Scope, &created, &s.Kind, &expires, &auth, &s.AMR, &lastUse, &s.ClientIP, &s.UserAgent, &s.ClientID); err != nil {
		return nil, err
	}
	s.CreatedAt, s.ExpiresAt, s.AuthTime, s.LastUsedAt = fromMicros(created), fromNullMicros(expires), fromNullMicros(auth), fromNullMicros(lastUse)
	return &s, nil
}

// UserSessions implements gatehouse.SessionInfoStore.
func (db *DB) UserSessions(ctx context.Context, userID int64, now time.Time, limit int) ([]*gatehouse.Session, error) {
	return queryAll(ctx, db, "user sessions", scanSession, `SELECT `+sessionColumns+` FROM sessions s WHERE s.user_id = ? AND `+liveSession+`
		ORDER BY coalesce(s.last_used_at, s.created_at) DESC, s.id LIMIT ?`, userID, micros(now), micros(now), limit)
}

// LiveSession implements gatehouse.SessionInfoStore.
func (db *DB) LiveSession(ctx context.Context, id string, now time.Time) (*gatehouse.Session, error) {
	s, err := scanSession(db.read.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE s.id = ? AND `+liveSession,
		id, micros(now), micros(now)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: live session: %w", notFound(db.classify(err), "Session"))
	}
	return s, nil
}

// TouchSessions implements gatehouse.SessionInfoStore.
func (db *DB) TouchSessions(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE sessions SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for id, t := range used {
			if _, err := stmt.ExecContext(ctx, micros(t), id, micros(t)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: touch sessions: %w", db.classify(err))
	}
	return nil
}

// FindUsers implements gatehouse.UserSearchStore. instr rather than LIKE:
// nothing in the query is a pattern.
func (db *DB) FindUsers(ctx context.Context, query string, after int64, limit int) ([]*gatehouse.User, error) {
	if query == "" {
		return db.ListUsers(ctx, after, limit)
	}
	return queryAll(ctx, db, "find users", scanUser, `SELECT `+userColumns+` FROM users WHERE id > ?
		AND (instr(username_key, ?) > 0 OR instr(lower(email), ?) > 0) ORDER BY id LIMIT ?`,
		after, gatehouse.UsernameKey(query), strings.ToLower(query), limit)
}
