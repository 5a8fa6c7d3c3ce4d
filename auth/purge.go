package auth

import (
	"context"
	"errors"
	"time"
)

// Purge forgets expired revocations in memory and in the store, and deletes
// expired refresh tokens and spent ones older than ReuseWindow.
func (s *Service) Purge(ctx context.Context) error {
	now := s.now()
	s.mirror.Purge(now)
	_, err1 := s.cfg.Store.PurgeRevocations(ctx, now)
	_, err2 := s.cfg.Store.PurgeSessions(ctx, now, now.Add(-ReuseWindow))
	// The feed outlives every access token it concerns: the revocation
	// stream rebuilds its user entries from it after a restart.
	_, err3 := s.cfg.Store.PurgeChanges(ctx, now.Add(-max(changeRetention, s.cfg.AccessTTL+Leeway)))
	// Redeemed codes are kept a while past their expiry, so that a code
	// presented again still revokes what it issued (oauth.go).
	_, err4 := s.cfg.Store.PurgeAuthCodes(ctx, now.Add(-CodeReuseWindow))
	return errors.Join(err1, err2, err3, err4)
}

// RunPurger calls Purge every interval until ctx ends.
func (s *Service) RunPurger(ctx context.Context, interval time.Duration) {
	s.every(ctx, interval, "purge", s.Purge)
}
