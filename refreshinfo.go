package gatehouse

import (
	"context"
	"time"
)

// RefreshTokenReader reads a refresh token without spending it: for token
// introspection (RFC 7662) and revocation (RFC 7009), which must neither
// rotate a token nor tell one client about another's (contract §13).
type RefreshTokenReader interface {
	// LiveRefreshToken returns the token with that hash if it is unused,
	// unexpired at now and its session not revoked, with the session's
	// OAuth client ("" for a first-party login). ENOTFOUND otherwise.
	LiveRefreshToken(ctx context.Context, hash string, now time.Time) (*RefreshToken, string, error)
}
