package auth

import (
	"context"
	"fmt"
)

// DeleteOAuthClient deletes the OAuth client id with its codes and
// consents, and ends every session opened for it at once and on every
// instance, as EndSession ends one: the store revokes them in the same
// transaction, and their revocations are mirrored and broadcast here. It
// returns how many sessions it ended; ENOTFOUND when there is no such
// client.
func (s *Service) DeleteOAuthClient(ctx context.Context, id string) (int, error) {
	now := s.now()
	revs, err := s.cfg.Store.DeleteClient(ctx, id, now, s.sessionRevocationEnd(now))
	if err != nil {
		return 0, fmt.Errorf("auth: delete client: %w", err)
	}
	s.revoked(ctx, revs)
	if len(revs) > 0 {
		s.met.Revocation("session_ended")
	}
	return len(revs), nil
}
