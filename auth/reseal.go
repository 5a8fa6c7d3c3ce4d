package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse"
)

// ResealTOTPSecrets re-encrypts every enabled TOTP secret still sealed
// under an earlier encryption key with the current one, so that the
// earlier key can then be retired. It returns how many it resealed.
func (s *Service) ResealTOTPSecrets(ctx context.Context) (int, error) {
	if s.cfg.Sealer == nil {
		return 0, errors.New("auth: reseal: no sealer configured")
	}
	n := 0
	var after int64
	for {
		users, err := s.cfg.Store.ListUsers(ctx, after, 500)
		if err != nil {
			return n, fmt.Errorf("auth: reseal: %w", err)
		}
		for _, u := range users {
			after = u.ID
			if !u.TOTPEnabled {
				continue
			}
			st, err := s.cfg.Store.TOTP(ctx, u.ID)
			if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
				continue
			}
			if err != nil {
				return n, fmt.Errorf("auth: reseal user %d: %w", u.ID, err)
			}
			if st.Secret == "" || !s.cfg.Sealer.NeedsReseal(st.Secret) {
				continue
			}
			secret, err := s.cfg.Sealer.Open(st.Secret, secretAAD(u.ID))
			if err != nil {
				return n, fmt.Errorf("auth: reseal user %d: %w", u.ID, err)
			}
			ok, err := s.cfg.Store.ResealTOTP(ctx, u.ID, st.Secret, s.cfg.Sealer.Seal(secret, secretAAD(u.ID)))
			if err != nil {
				return n, fmt.Errorf("auth: reseal user %d: %w", u.ID, err)
			}
			if ok {
				n++
			}
		}
		if len(users) < 500 {
			return n, nil
		}
	}
}
