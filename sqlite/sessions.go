package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

// CreateSession implements gatehouse.SessionStore.
func (db *DB) CreateSession(ctx context.Context, s *gatehouse.Session, first *gatehouse.RefreshToken) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// Under the write lock, which UpdateUser holds while it changes
		// a password and ends the sessions: the hash read here is the one
		// in force until this transaction ends.
		if err := checkCredential(ctx, tx, s); err != nil {
			return err
		}
		if err := insertSession(ctx, tx, s); err != nil || first == nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, session_id, user_id, scope, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			first.Hash, s.ID, s.UserID, s.Scope, micros(first.CreatedAt), micros(first.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create session: %w", db.classify(err))
	}
	return nil
}

// checkCredential refuses, with gatehouse.ErrCredentialChanged, a session
// whose Credential is not the fingerprint of its user's password hash.
func checkCredential(ctx context.Context, tx *sql.Tx, s *gatehouse.Session) error {
	if s.Credential == "" {
		return nil
	}
	var hash string
	err := tx.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = ?`, s.UserID).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) || err == nil && gatehouse.CredentialFingerprint(hash) != s.Credential {
		return gatehouse.ErrCredentialChanged
	}
	return err
}

// RotateRefreshToken implements gatehouse.SessionStore. The write
// connection serialises transactions, and the UPDATE's used_at IS NULL
// condition makes the mark-as-used a compare-and-set on any engine.
func (db *DB) RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, next *gatehouse.RefreshToken, sealedNext []byte, limit gatehouse.RefreshLimit) (gatehouse.Rotation, error) {
	var rot gatehouse.Rotation
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var (
			old                gatehouse.RefreshToken
			created, expires   int64
			used, revoked, tat sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT t.hash, t.session_id, t.user_id, t.scope, t.created_at, t.expires_at, t.used_at, t.successor, s.revoked_at, s.refresh_tat, s.client_id
			FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = ?`, oldHash).
			Scan(&old.Hash, &old.SessionID, &old.UserID, &old.Scope, &created, &expires, &used, &old.Successor, &revoked, &tat, &rot.ClientID)
		if err != nil {
			return notFound(err, "Refresh token")
		}
		old.CreatedAt, old.ExpiresAt, old.UsedAt = fromMicros(created), fromMicros(expires), fromNullMicros(used)
		rot.Old, rot.SessionRevoked = old, revoked.Valid
		if revoked.Valid || used.Valid || !now.Before(old.ExpiresAt) {
			return nil
		}
		nextTAT, wait := limit.Take(fromNullMicros(tat), now)
		if wait > 0 {
			rot.RetryAfter = wait
			return nil
		}
		if limit.Interval > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE sessions SET refresh_tat = ? WHERE id = ?`, micros(nextTAT), old.SessionID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ?, successor = ? WHERE hash = ? AND used_at IS NULL`,
			micros(now), sealedNext, oldHash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("refresh token changed under rotation (rows=%d): %w", n, err)
		}
		next.SessionID, next.UserID, next.Scope = old.SessionID, old.UserID, old.Scope
		if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, session_id, user_id, scope, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			next.Hash, next.SessionID, next.UserID, next.Scope, micros(next.CreatedAt), micros(next.ExpiresAt)); err != nil {
			return err
		}
		rot.Rotated = true
		return nil
	})
	if err != nil {
		return gatehouse.Rotation{}, fmt.Errorf("sqlite: rotate refresh token: %w", db.classify(err))
	}
	return rot, nil
}

// RevokeSession implements gatehouse.SessionStore.
func (db *DB) RevokeSession(ctx context.Context, sessionID string, now time.Time, revs ...gatehouse.Revocation) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(now), sessionID); err != nil {
			return err
		}
		return db.addRevocations(ctx, tx, revs)
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke session: %w", db.classify(err))
	}
	return nil
}

// endSessions revokes the user's sessions as end says and stores their
// revocations, returning them and the change-feed entries that announce
// them.
func endSessions(ctx context.Context, tx *sql.Tx, userID int64, end gatehouse.SessionEnd) ([]gatehouse.Revocation, []gatehouse.Change, error) {
	rows, err := tx.QueryContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id <> ? RETURNING id`,
		micros(end.At), userID, end.Except)
	if err != nil {
		return nil, nil, err
	}
	var revs []gatehouse.Revocation
	for rows.Next() {
		var sid string
		if err := rows.Scan(&sid); err != nil {
			rows.Close()
			return nil, nil, err
		}
		revs = append(revs, gatehouse.Revocation{Kind: gatehouse.RevokeSession, Value: sid, ExpiresAt: end.Until})
	}
	if err := rows.Close(); err != nil {
		return nil, nil, err
	}
	changes, err := storeRevocations(ctx, tx, revs)
	return revs, changes, err
}

// LiveSessions implements gatehouse.SessionStore.
func (db *DB) LiveSessions(ctx context.Context, userID int64) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: live sessions: %w", db.classify(err))
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: live sessions: %w", db.classify(err))
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: live sessions: %w", db.classify(err))
	}
	return ids, nil
}

// PurgeSessions implements gatehouse.SessionStore.
func (db *DB) PurgeSessions(ctx context.Context, now, spentBefore time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE expires_at <= ?`, micros(now))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if res, err = tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE used_at IS NOT NULL AND used_at < ?`, micros(spentBefore)); err != nil {
			return err
		}
		spent, _ := res.RowsAffected()
		n += spent
		if _, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at IS NULL AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = sessions.id)`); err != nil {
			return err
		}
		return purgeBrowserSessions(ctx, tx, now)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge sessions: %w", db.classify(err))
	}
	return n, nil
}
