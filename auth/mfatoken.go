package auth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/token"
)

// MFATokenTTL is how long the mfa_token of a half-done login lasts.
const MFATokenTTL = 5 * time.Minute

// mfaTokenPrefix marks mfa_tokens, so that logs and secret scanners can
// tell them from other credentials.
const mfaTokenPrefix = "ghm_"

var (
	errMFARequired = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "mfa_required", Message: "2FA code required"}
	errBadMFAToken = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_grant", Message: "Invalid or expired mfa_token"}
)

// MFARequiredError answers a right password of a user with 2FA on that came
// without a code (contract §3: 401 "mfa_required"). Token is the mfa_token
// LoginMFA accepts instead of the password; it is a credential, so Error
// leaves it out.
type MFARequiredError struct {
	Token     string
	ExpiresIn time.Duration
}

func (e *MFARequiredError) Error() string { return "auth: 2FA code required" }

func (e *MFARequiredError) Unwrap() error { return errMFARequired }

// GoString keeps %#v from printing the token.
func (e *MFARequiredError) GoString() string { return "&auth.MFARequiredError{Token: [redacted]}" }

// LoginMFA is the second step of a login (contract §3): it takes the
// mfa_token that a password login without otp answered with, and otp, a
// current code or an unused recovery code, and opens the session that
// login asked for. The token lasts MFATokenTTL and is spent by its first
// success; until then a mistyped code may be retried, within the user's
// limit on wrong codes. The user must still exist, be enabled and have
// 2FA on.
func (s *Service) LoginMFA(ctx context.Context, mfaToken, otp string) (*TokenPair, error) {
	pair, u, err := s.loginMFA(ctx, gatehouse.SessionToken, mfaToken, otp)
	name := ""
	if u != nil {
		name = u.Username
	}
	s.recordLogin(ctx, name, u, "mfa", "", err)
	return pair, err
}

func (s *Service) loginMFA(ctx context.Context, kind, mfaToken, otp string) (*TokenPair, *gatehouse.User, error) {
	c, ok := s.openMFAToken(mfaToken)
	if !ok {
		return nil, nil, errBadMFAToken
	}
	u, err := s.cfg.Store.UserByID(ctx, c.UserID)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, nil, errBadMFAToken
	}
	if err != nil {
		return nil, nil, err
	}
	if u.Disabled {
		return nil, u, errInactive
	}
	if !u.TOTPEnabled { // reset since: log in again with the password alone
		return nil, u, errBadMFAToken
	}
	// The password step checked a hash the user no longer has: the
	// password was changed since, and this token dies with it. Refused
	// before the code is looked at; the store checks it again, atomically,
	// as it opens the session.
	if c.Cred == "" || c.Cred != gatehouse.CredentialFingerprint(u.PasswordHash) {
		return nil, u, errBadMFAToken
	}
	// A spent token is refused before the code is looked at: replaying one
	// with a fresh code must not use up that code's step or recovery code.
	if spent, err := s.cfg.Store.NonceUsed(ctx, "mfa:"+c.ID); err != nil || spent {
		if err == nil {
			err = errBadMFAToken
		}
		return nil, u, err
	}
	st, err := s.enabledState(ctx, u.ID)
	if err != nil {
		return nil, u, err
	}
	if err := s.requireCode(ctx, u.ID, st, otp, "login", errInvalidOTP); err != nil {
		return nil, u, err
	}
	// Spent only now, so that a typo does not cost the whole login; of two
	// concurrent successes exactly one gets the session.
	first, err := s.cfg.Store.UseNonce(ctx, "mfa:"+c.ID, time.Unix(c.Expires, 0))
	if err != nil {
		return nil, u, err
	}
	if !first {
		return nil, u, errBadMFAToken
	}
	pair, err := s.openSession(ctx, u, rbac.Restrict(u.Role, c.Scope), kind, c.Cred)
	if errors.Is(err, errBadCredentials) {
		err = errBadMFAToken
	}
	return pair, u, err
}

// secondFactor is the 2FA step of a password login of u, whose password
// was right: no otp gets MFARequiredError with a fresh mfa_token for the
// granted scope, bound to cred (the fingerprint of the hash the password
// was checked against), a wrong one "invalid_otp".
func (s *Service) secondFactor(ctx context.Context, u *gatehouse.User, scope, otp, cred string) error {
	if s.cfg.Sealer == nil {
		return errNoSealer
	}
	if otp == "" {
		return &MFARequiredError{Token: s.newMFAToken(u.ID, scope, cred), ExpiresIn: MFATokenTTL}
	}
	st, err := s.enabledState(ctx, u.ID)
	if err != nil {
		return err
	}
	return s.requireCode(ctx, u.ID, st, otp, "login", errInvalidOTP)
}

// mfaClaims is what an mfa_token carries. The token is these claims as
// JSON, sealed (AES-256-GCM) by the Sealer under mfaTokenAAD and prefixed
// with mfaTokenPrefix: opaque to clients, unforgeable, and stateless until
// it is spent, when its ID goes to the NonceStore.
type mfaClaims struct {
	ID      string `json:"jti"`
	UserID  int64  `json:"sub"`
	Scope   string `json:"scope"` // as granted by the password step
	Expires int64  `json:"exp"`   // Unix seconds
	// Cred is the fingerprint of the password hash the password step
	// verified (gatehouse.CredentialFingerprint): a change of password
	// voids the token.
	Cred string `json:"cred"`
}

// mfaTokenAAD sets mfa_tokens apart from sealed TOTP secrets, which the
// same key seals under secretAAD.
var mfaTokenAAD = []byte("gatehouse mfa_token v1")

func (s *Service) newMFAToken(userID int64, scope, cred string) string {
	b, _ := json.Marshal(mfaClaims{ID: token.NewID(), UserID: userID, Scope: scope,
		Expires: s.now().Add(MFATokenTTL).Unix(), Cred: cred}) // cannot fail: strings and integers
	return mfaTokenPrefix + s.cfg.Sealer.Seal(b, mfaTokenAAD)
}

// openMFAToken returns the claims of an authentic, unexpired mfa_token.
func (s *Service) openMFAToken(tok string) (mfaClaims, bool) {
	var c mfaClaims
	sealed, ok := strings.CutPrefix(tok, mfaTokenPrefix)
	if !ok || len(sealed) > 512 || s.cfg.Sealer == nil {
		return c, false
	}
	b, err := s.cfg.Sealer.Open(sealed, mfaTokenAAD)
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" {
		return c, false
	}
	return c, s.now().Before(time.Unix(c.Expires, 0))
}
