package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/totp"
)

// ResealTOTPSecrets re-encrypts every enabled TOTP secret still sealed
// under an earlier encryption key with the current one, so that the
// earlier key can then be retired. It returns how many it resealed. A
// secret sealed under a key the Sealer does not hold cannot be moved: the
// others are resealed all the same, and the error is an
// *UnreadableSecretsError naming the users whose secrets those are.
func (s *Service) ResealTOTPSecrets(ctx context.Context) (int, error) {
	if s.cfg.Sealer == nil {
		return 0, errors.New("auth: reseal: no sealer configured")
	}
	n := 0
	var unreadable UnreadableSecretsError
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
			if st.Secret == "" {
				continue
			}
			if !s.cfg.Sealer.HasKey(totp.SealedKeyID(st.Secret)) {
				unreadable.add(u.ID)
				continue
			}
			if !s.cfg.Sealer.NeedsReseal(st.Secret) {
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
			if unreadable.Count > 0 {
				return n, &unreadable
			}
			return n, nil
		}
	}
}

// UnreadableSecretsError reports enabled TOTP secrets sealed under a key
// the Sealer does not hold: their users cannot log in until that key is
// configured again or their 2FA is reset.
type UnreadableSecretsError struct {
	Count   int     // how many
	UserIDs []int64 // the first maxUnreadableIDs of their users
}

const maxUnreadableIDs = 20

func (e *UnreadableSecretsError) add(id int64) {
	e.Count++
	if len(e.UserIDs) < maxUnreadableIDs {
		e.UserIDs = append(e.UserIDs, id)
	}
}

func (e *UnreadableSecretsError) Error() string {
	return fmt.Sprintf("auth: reseal: %d TOTP secrets are sealed under a key that is not configured (users %v)", e.Count, e.UserIDs)
}
