package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.RefreshTokenReader = (*DB)(nil)

// LiveRefreshToken implements gatehouse.RefreshTokenReader.
func (db *DB) LiveRefreshToken(ctx context.Context, hash string, now time.Time) (*gatehouse.RefreshToken, string, error) {
	var (
		t      gatehouse.RefreshToken
		client string
	)
	err := db.pool.QueryRow(ctx, `SELECT t.hash, t.session_id, t.user_id, t.scope, t.created_at, t.expires_at, s.client_id
		FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
		WHERE t.hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 AND s.revoked_at IS NULL`, hash, now).
		Scan(&t.Hash, &t.SessionID, &t.UserID, &t.Scope, &t.CreatedAt, &t.ExpiresAt, &client)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: live refresh token: %w", notFound(classify(err), "Refresh token"))
	}
	return &t, client, nil
}
