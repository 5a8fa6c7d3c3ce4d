package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/totp"
)

// Two-factor authentication (contract §6): enrolment, codes accepted once,
// recovery codes, and the check of a code under the user's limit on wrong
// codes. The RFC 6238 arithmetic is package totp's, the limiter is in
// codelimit.go, the second step of a login in mfatoken.go; this file keeps
// the state and the rules.

const (
	recoveryCodeCount = 10
	// maxCodeLen bounds what is hashed as a recovery code (they are 29
	// characters; generous room for spaces a user typed).
	maxCodeLen = 64
)

var (
	errInvalidOTP   = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_otp", Message: "Invalid 2FA code"}
	errInvalidCode  = &gatehouse.Error{Code: gatehouse.EBADREQUEST, Message: "Invalid 2FA code"}
	errNotSetUp     = &gatehouse.Error{Code: gatehouse.EBADREQUEST, Message: "2FA is not set up; call /2fa/setup first"}
	errTwoFactorOff = &gatehouse.Error{Code: gatehouse.EBADREQUEST, Message: "2FA is not enabled"}
	errTwoFactorOn  = &gatehouse.Error{Code: gatehouse.ECONFLICT, Message: "2FA is already enabled; disable it before enrolling again"}
	errNoSealer     = errors.New("auth: two-factor needs Config.Sealer")
)

// Enrolment is a new pending TOTP secret and the otpauth URI that carries
// it. String redacts both.
type Enrolment struct {
	Secret string // base32, 160 bits
	URI    string // otpauth://totp/ISSUER:NAME?secret=…
}

func (Enrolment) String() string { return "auth.Enrolment{[redacted]}" }

func (Enrolment) GoString() string { return "auth.Enrolment{[redacted]}" }

// SetupTwoFactor starts enrolment: it stores a new secret, sealed, as the
// user's pending one (replacing an earlier pending one) and returns it.
// While 2FA is enabled it is refused with ECONFLICT: re-enrolment takes a
// disable, with a code, first, so that a stolen access token alone cannot
// move the second factor to the thief's phone.
func (s *Service) SetupTwoFactor(ctx context.Context, u *gatehouse.User) (Enrolment, error) {
	if s.cfg.Sealer == nil {
		return Enrolment{}, errNoSealer
	}
	st, err := s.totpState(ctx, u.ID)
	if err != nil {
		return Enrolment{}, err
	}
	if st != nil && st.Enabled {
		return Enrolment{}, errTwoFactorOn
	}
	secret := totp.GenerateSecret()
	if err := s.cfg.Store.SetPendingTOTP(ctx, u.ID, s.cfg.Sealer.Seal([]byte(secret), secretAAD(u.ID))); err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: secret, URI: totp.URI(s.cfg.TOTPIssuer, u.Username, secret)}, nil
}

// VerifyTwoFactor checks a code from the user's authenticator. The first
// time, against the pending secret, it enables 2FA and returns 10 new
// recovery codes, to be shown once (only their hashes are stored). Once
// enabled it checks a current code (or a recovery code) and returns none.
// A wrong, replayed or stale code is 400 "Invalid 2FA code" and counts
// towards the user's limit.
func (s *Service) VerifyTwoFactor(ctx context.Context, u *gatehouse.User, code string) ([]string, error) {
	st, err := s.totpState(ctx, u.ID)
	switch {
	case err != nil:
		return nil, err
	case st == nil || !st.Enabled && st.Pending == "":
		return nil, errNotSetUp
	case st.Enabled:
		return nil, s.requireCode(ctx, u.ID, st, code, "verify", errInvalidCode)
	}
	var codes []string
	ok, err := s.attempt(ctx, u.ID, "enable", func() (bool, error) {
		secret, err := s.openSecret(st.Pending, u.ID)
		if err != nil {
			return false, err
		}
		step, ok := totp.Verify(secret, strings.TrimSpace(code), s.now(), st.LastStep)
		if !ok {
			return false, nil
		}
		codes = totp.GenerateRecoveryCodes(recoveryCodeCount)
		// Stores step as used, so the enabling code cannot log in again.
		err = s.cfg.Store.EnableTOTP(ctx, u.ID, st.Pending, step, hashRecoveryCodes(codes))
		if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
			// A concurrent request enabled with this code, or a new setup
			// replaced the secret it was for.
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errInvalidCode
	}
	s.userChanged(ctx, u.ID)
	s.auditUser(ctx, gatehouse.EventTwoFactorEnabled, u.ID, "")
	return codes, nil
}

// DisableTwoFactor turns 2FA off after checking a current code or a
// recovery code, and voids the secret and the recovery codes.
func (s *Service) DisableTwoFactor(ctx context.Context, u *gatehouse.User, code string) error {
	st, err := s.enabledState(ctx, u.ID)
	if err != nil {
		return err
	}
	if err := s.requireCode(ctx, u.ID, st, code, "disable", errInvalidCode); err != nil {
		return err
	}
	if err := s.cfg.Store.DisableTOTP(ctx, u.ID); err != nil {
		return err
	}
	s.userChanged(ctx, u.ID)
	s.auditUser(ctx, gatehouse.EventTwoFactorDisabled, u.ID, "")
	return nil
}

// NewRecoveryCodes checks a current code (or a recovery code) and replaces
// the user's recovery codes with 10 new ones, voiding the old.
func (s *Service) NewRecoveryCodes(ctx context.Context, u *gatehouse.User, code string) ([]string, error) {
	st, err := s.enabledState(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if err := s.requireCode(ctx, u.ID, st, code, "new recovery codes", errInvalidCode); err != nil {
		return nil, err
	}
	codes := totp.GenerateRecoveryCodes(recoveryCodeCount)
	if err := s.cfg.Store.ReplaceRecoveryCodes(ctx, u.ID, hashRecoveryCodes(codes)); err != nil {
		return nil, err
	}
	return codes, nil
}

// requireCode checks code against the enabled state st, under the user's
// limit, and returns wrong when it is not accepted.
//
// A 6-character code is a TOTP code: it must match a step within one of
// now (RFC 6238 §5.2, §6) later than the last one used, and that step is
// then stored with a compare-and-set, so of two requests with one code
// exactly one succeeds (RFC 6238 §5.2: the verifier MUST NOT accept the
// second attempt). Anything else is tried as a recovery code, which the
// store deletes as it matches.
func (s *Service) requireCode(ctx context.Context, userID int64, st *gatehouse.TOTP, code, purpose string, wrong error) error {
	code = strings.TrimSpace(code)
	ok, err := s.attempt(ctx, userID, purpose, func() (bool, error) {
		if len(code) == 6 {
			secret, err := s.openSecret(st.Secret, userID)
			if err != nil {
				return false, err
			}
			step, ok := totp.Verify(secret, code, s.now(), st.LastStep)
			if !ok {
				return false, nil
			}
			return s.cfg.Store.UseTOTPStep(ctx, userID, step)
		}
		if code == "" || len(code) > maxCodeLen {
			return false, nil
		}
		return s.cfg.Store.UseRecoveryCode(ctx, userID, totp.HashRecoveryCode(code))
	})
	if err != nil {
		return err
	}
	if !ok {
		return wrong
	}
	return nil
}

// attempt runs check, which reports whether a code was right, under the
// user's limit on wrong codes: the attempt is reserved first, so a user
// locked out gets CodeLockoutError without the code being looked at, and
// it is given back when the code was right or could not be checked.
// Every outcome is counted and audited, and a wrong code that starts a
// lockout is audited as 2fa_lockout with its level and length.
func (s *Service) attempt(ctx context.Context, userID int64, purpose string, check func() (bool, error)) (bool, error) {
	r, err := s.codes.Reserve(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("auth: 2FA limiter: %w", err)
	}
	if r.RetryAfter > 0 {
		s.met.TwoFactor("locked")
		s.met.RateLimited("2fa")
		s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventRateLimited, Outcome: gatehouse.OutcomeFailure,
			UserID: userID, Detail: "2fa " + purpose})
		return false, &CodeLockoutError{RetryAfter: r.RetryAfter}
	}
	ok, err := check()
	if ok || err != nil {
		if rerr := s.codes.Release(ctx, userID, ok); rerr != nil {
			s.log.WarnContext(ctx, "2FA limiter release failed", "user_id", userID, "err", rerr)
		}
	}
	if err != nil {
		return false, err
	}
	ev := gatehouse.AuditEvent{Type: gatehouse.EventTwoFactorUsed, Outcome: gatehouse.OutcomeSuccess, UserID: userID, Detail: purpose}
	if !ok {
		ev.Type, ev.Outcome = gatehouse.EventTwoFactorFailed, gatehouse.OutcomeFailure
	}
	s.met.TwoFactor(ev.Outcome)
	s.audit.Record(ctx, ev)
	if !ok && r.Lockout > 0 {
		s.met.TwoFactor("lockout")
		s.log.WarnContext(ctx, "2FA lockout", "user_id", userID, "level", r.Level, "lockout", r.Lockout.String())
		s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventTwoFactorLockout, Outcome: gatehouse.OutcomeFailure,
			UserID: userID, Detail: fmt.Sprintf("lockout %d in a row, %s", r.Level, r.Lockout.Round(time.Second))})
	}
	return ok, nil
}

// totpState returns the user's two-factor row, nil when there is none.
func (s *Service) totpState(ctx context.Context, userID int64) (*gatehouse.TOTP, error) {
	st, err := s.cfg.Store.TOTP(ctx, userID)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, nil
	}
	return st, err
}

// enabledState returns the user's two-factor row, or 400 when 2FA is off.
func (s *Service) enabledState(ctx context.Context, userID int64) (*gatehouse.TOTP, error) {
	st, err := s.totpState(ctx, userID)
	if err != nil {
		return nil, err
	}
	if st == nil || !st.Enabled {
		return nil, errTwoFactorOff
	}
	return st, nil
}

// secretAAD binds a sealed TOTP secret to its user, so that a ciphertext
// copied into another user's row does not open there.
func secretAAD(userID int64) []byte {
	return []byte("gatehouse totp secret user " + strconv.FormatInt(userID, 10))
}

func (s *Service) openSecret(sealed string, userID int64) (string, error) {
	if s.cfg.Sealer == nil {
		return "", errNoSealer
	}
	secret, err := s.cfg.Sealer.Open(sealed, secretAAD(userID))
	if err != nil {
		return "", fmt.Errorf("auth: TOTP secret of user %d: %w", userID, err)
	}
	return string(secret), nil
}

func hashRecoveryCodes(codes []string) []string {
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = totp.HashRecoveryCode(c)
	}
	return hashes
}
