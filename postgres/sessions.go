package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
)

// CreateSession implements gatehouse.SessionStore.
func (db *DB) CreateSession(ctx context.Context, s *gatehouse.Session, first *gatehouse.RefreshToken) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if err := checkCredential(ctx, tx, s); err != nil {
			return err
		}
		if err := insertSession(ctx, tx, s); err != nil || first == nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, user_id, scope, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			first.Hash, s.ID, s.UserID, s.Scope, first.CreatedAt, first.ExpiresAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create session: %w", classify(err))
	}
	return nil
}

// checkCredential refuses, with gatehouse.ErrCredentialChanged, a session
// whose Credential is not the fingerprint of its user's password hash. The
// user's row is read FOR SHARE, which conflicts with the FOR NO KEY UPDATE
// that UpdateUser takes: a password change under way makes this wait and
// then read the new hash; one that starts after this read waits for this
// transaction, and its UPDATE of the sessions, a later statement under
// READ COMMITTED, sees the session inserted here and ends it.
func checkCredential(ctx context.Context, tx pgx.Tx, s *gatehouse.Session) error {
	if s.Credential == "" {
		return nil
	}
	var hash string
	err := tx.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1 FOR SHARE`, s.UserID).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && gatehouse.CredentialFingerprint(hash) != s.Credential {
		return gatehouse.ErrCredentialChanged
	}
	return err
}

// RotateRefreshToken implements gatehouse.SessionStore. The token's row is
// locked as it is read, so concurrent rotations of one token queue: the
// first rotates, and the others then read it as used, with the successor
// that the grace window hands out again. The UPDATE's used_at IS NULL
// condition keeps the mark-as-used a compare-and-set regardless.
func (db *DB) RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, next *gatehouse.RefreshToken, sealedNext []byte, limit gatehouse.RefreshLimit) (gatehouse.Rotation, error) {
	var rot gatehouse.Rotation
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var (
			old                gatehouse.RefreshToken
			used, revoked, tat *time.Time
		)
		// The session's row is locked too: its limit is read and written
		// here, and rotations of its tokens take their turns.
		err := tx.QueryRow(ctx, `SELECT t.hash, t.session_id, t.user_id, t.scope, t.created_at, t.expires_at, t.used_at, t.successor, s.revoked_at, s.refresh_tat, s.client_id
			FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = $1 FOR UPDATE OF t, s`, oldHash).
			Scan(&old.Hash, &old.SessionID, &old.UserID, &old.Scope, &old.CreatedAt, &old.ExpiresAt, &used, &old.Successor, &revoked, &tat, &rot.ClientID)
		if err != nil {
			return notFound(err, "Refresh token")
		}
		old.UsedAt = timeOrZero(used)
		rot.Old, rot.SessionRevoked = old, revoked != nil
		if revoked != nil || used != nil || !now.Before(old.ExpiresAt) {
			return nil
		}
		nextTAT, wait := limit.Take(timeOrZero(tat), now)
		if wait > 0 {
			rot.RetryAfter = wait
			return nil
		}
		if limit.Interval > 0 {
			if _, err := tx.Exec(ctx, `UPDATE sessions SET refresh_tat = $1 WHERE id = $2`, nextTAT, old.SessionID); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $1, successor = $2 WHERE hash = $3 AND used_at IS NULL`,
			now, sealedNext, oldHash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("refresh token changed under rotation (rows=%d)", tag.RowsAffected())
		}
		next.SessionID, next.UserID, next.Scope = old.SessionID, old.UserID, old.Scope
		if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, user_id, scope, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			next.Hash, next.SessionID, next.UserID, next.Scope, next.CreatedAt, next.ExpiresAt); err != nil {
			return err
		}
		rot.Rotated = true
		return nil
	})
	if err != nil {
		return gatehouse.Rotation{}, fmt.Errorf("postgres: rotate refresh token: %w", classify(err))
	}
	return rot, nil
}

// RevokeSession implements gatehouse.SessionStore.
func (db *DB) RevokeSession(ctx context.Context, sessionID string, now time.Time, revs ...gatehouse.Revocation) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, now, sessionID); err != nil {
			return err
		}
		return db.addRevocations(ctx, tx, revs)
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke session: %w", classify(err))
	}
	return nil
}

// endSessions revokes the user's sessions as end says and stores their
// revocations, returning them and the change-feed entries that announce
// them.
func endSessions(ctx context.Context, tx pgx.Tx, userID int64, end gatehouse.SessionEnd) ([]gatehouse.Revocation, []gatehouse.Change, error) {
	rows, _ := tx.Query(ctx, `UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3 RETURNING id`,
		end.At, userID, end.Except)
	revs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gatehouse.Revocation, error) {
		r := gatehouse.Revocation{Kind: gatehouse.RevokeSession, ExpiresAt: end.Until}
		return r, row.Scan(&r.Value)
	})
	if err != nil {
		return nil, nil, err
	}
	changes, err := storeRevocations(ctx, tx, revs)
	return revs, changes, err
}

// LiveSessions implements gatehouse.SessionStore.
func (db *DB) LiveSessions(ctx context.Context, userID int64) ([]string, error) {
	rows, _ := db.pool.Query(ctx, `SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at`, userID)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: live sessions: %w", classify(err))
	}
	return ids, nil
}

// PurgeSessions implements gatehouse.SessionStore.
func (db *DB) PurgeSessions(ctx context.Context, now, spentBefore time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at <= $1`, now)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		if tag, err = tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE used_at IS NOT NULL AND used_at < $1`, spentBefore); err != nil {
			return err
		}
		n += tag.RowsAffected()
		if _, err = tx.Exec(ctx, `DELETE FROM sessions s WHERE s.expires_at IS NULL AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id)`); err != nil {
			return err
		}
		return purgeBrowserSessions(ctx, tx, now)
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: purge sessions: %w", classify(err))
	}
	return n, nil
}
