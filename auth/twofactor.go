package auth

import (
	"context"

	"github.com/gatehouse/gatehouse"
)

// ResetTwoFactor removes a user's two-factor state (an admin's reset).
func (s *Service) ResetTwoFactor(ctx context.Context, id int64) error {
	if err := s.cfg.Store.DisableTOTP(ctx, id); err != nil {
		return err
	}
	s.userChanged(ctx, id)
	s.auditUser(ctx, gatehouse.EventTwoFactorDisabled, id, "reset by an admin")
	return nil
}
