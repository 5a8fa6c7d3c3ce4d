package auth

import (
	"context"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
)

var errWrongCurrentPassword = gatehouse.Invalid([]string{"body", "current_password"}, "The current password is not right", "value_error.password")

// ChangePassword is a signed-in user's own password change (contract §12):
// the current password must be right, the new one must pass the policy,
// and every other session of the user ends — the one p acts from (when it
// is a session) stays signed in.
func (s *Service) ChangePassword(ctx context.Context, p *gatehouse.Principal, current, next string) error {
	if password.TooLong(current) {
		return errWrongCurrentPassword
	}
	u, err := s.cfg.Store.UserByID(ctx, p.User.ID)
	if err != nil {
		return err
	}
	var ok bool
	var verr error
	if err := s.hash(ctx, func() { ok, _, verr = s.cfg.Hasher.Verify(current, u.PasswordHash) }); err != nil {
		return err
	}
	if verr != nil || !ok {
		return errWrongCurrentPassword
	}
	if err := s.checkPassword(u.Username, next); err != nil {
		return err
	}
	h, err := s.hashPassword(ctx, next)
	if err != nil {
		return err
	}
	now, old := s.now(), u.PasswordHash
	_, ended, err := s.cfg.Store.UpdateUser(ctx, u.ID, gatehouse.UserEdit{
		Apply: func(cur *gatehouse.User) error {
			if cur.PasswordHash != old { // changed meanwhile: the password checked is no longer it
				return errWrongCurrentPassword
			}
			cur.PasswordHash = h
			return nil
		},
		// In the same transaction, every other session ends (contract §12).
		EndSessions: &gatehouse.SessionEnd{At: now, Until: s.sessionRevocationEnd(now), Except: p.SessionID},
	})
	if err != nil {
		return err
	}
	s.revoked(ctx, ended)
	s.userChanged(ctx, u.ID)
	if err := s.codes.Reset(ctx, u.ID); err != nil { // as updateUser does
		s.log.WarnContext(ctx, "2FA limiter reset failed", "user_id", u.ID, "err", err)
	}
	s.auditUser(ctx, gatehouse.EventUserChanged, u.ID, "password changed by its user")
	return nil
}
