package auth

import (
	"context"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/rbac"
)

var (
	errBadToken = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_token", Message: "Could not validate credentials"}
	errRevoked  = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_token", Message: "Token has been revoked"}
)

// Authenticate verifies an access token and returns who it acts for. The
// signature, claims, revocation and user checks all run from memory.
// A disabled user's token gets EINACTIVE; a deleted user's, a revoked or a
// bad token EUNAUTHENTICATED.
func (s *Service) Authenticate(ctx context.Context, bearer string) (*gatehouse.Principal, error) {
	c, err := s.cfg.Tokens.Verify(bearer)
	if err != nil {
		return nil, errBadToken
	}
	if s.mirror.Revoked(c.ID, c.SessionID) {
		return nil, errRevoked
	}
	if c.SessionID == "" && c.ClientID != "" {
		// A client_credentials token (oauth.go) acts for its client, never
		// for the user whose id its client id might spell.
		return nil, errBadToken
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil {
		return nil, errBadToken
	}
	u, err := s.liveUser(ctx, id, errBadToken, errInactive)
	if err != nil {
		return nil, err
	}
	return &gatehouse.Principal{
		User:      &u.User,
		Snapshot:  u.snap,
		Scope:     rbac.Restrict(u.Role, c.Scope),
		TokenID:   c.ID,
		SessionID: c.SessionID,
		ExpiresAt: time.Unix(c.ExpiresAt, 0),
	}, nil
}
