package sqlite

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
		t                gatehouse.RefreshToken
		created, expires int64
		client           string
	)
	err := db.read.QueryRowContext(ctx, `SELECT t.hash, t.session_id, t.user_id, t.scope, t.created_at, t.expires_at, s.client_id
		FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
		WHERE t.hash = ? AND t.used_at IS NULL AND t.expires_at > ? AND s.revoked_at IS NULL`, hash, micros(now)).
		Scan(&t.Hash, &t.SessionID, &t.UserID, &t.Scope, &created, &expires, &client)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: live refresh token: %w", notFound(db.classify(err), "Refresh token"))
	}
	t.CreatedAt, t.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &t, client, nil
}
