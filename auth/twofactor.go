package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/token"
	"github.com/gatehouse/gatehouse/totp"
)

// Two-factor authentication (contract §6): enrolment, codes accepted once,
// recovery codes, a per-user limit on wrong codes, and the second step of a
// login. The RFC 6238 arithmetic is package totp's; this file keeps the
// state and the rules.

const (
	// MaxCodeFailures wrong codes within CodeFailureWindow refuse every
	// further code of that user, the right one included, until the window
	// has passed (contract §6; RFC 4226 §7.3 requires such a limit).
	MaxCodeFailures   = 5
	CodeFailureWindow = 5 * time.Minute

	// MFATokenTTL is how long the mfa_token of a half-done login lasts.
	MFATokenTTL = 5 * time.Minute

	recoveryCodeCount = 10
	// maxCodeLen bounds what is hashed as a recovery code (they are 29
	// characters; generous room for spaces a user typed).
	maxCodeLen = 64
	// mfaTokenPrefix marks mfa_tokens, so that logs and secret scanners can
	// tell them from other credentials.
	mfaTokenPrefix = "ghm_"
)

var (
	errCodeLockout  = &gatehouse.Error{Code: gatehouse.ERATELIMIT, Message: "Too many wrong 2FA codes; try again later"}
	errMFARequired  = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "mfa_required", Message: "2FA code required"}
	errInvalidOTP   = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_otp", Message: "Invalid 2FA code"}
	errBadMFAToken  = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_grant", Message: "Invalid or expired mfa_token"}
	errInvalidCode  = &gatehouse.Error{Code: gatehouse.EBADREQUEST, Message: "Invalid 2FA code"}
	errNotSetUp     = &gatehouse.Error{Code: gatehouse.EBADREQUEST, Message: "2FA is not set up; call /2fa/setup first"}
	errTwoFactorOff = &gatehouse.Error{Code: gatehouse.EBADREQUEST, Message: "2FA is not enabled"}
	errTwoFactorOn  = &gatehouse.Error{Code: gatehouse.ECONFLICT, Message: "2FA is already enabled; disable it before enrolling again"}
	errNoSealer     = errors.New("auth: two-factor needs Config.Sealer")
)

// CodeLockoutError refuses a second-factor code because its user had
// MaxCodeFailures wrong ones in the current window. Its code is
// ERATELIMIT; RetryAfter is what the Retry-After header says.
type CodeLockoutError struct{ RetryAfter time.Duration }

func (e *CodeLockoutError) Error() string { return "auth: too many wrong 2FA codes" }
func (e *CodeLockoutError) Unwrap() error { return errCodeLockout }

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

// CodeLimiter bounds guessing at second-factor codes per user. An attempt
// is reserved before its code is checked and released when the code was
// right, so parallel guesses cannot all pass a check made before any of
// them failed. MemoryCodeLimiter serves one instance; a shared
// implementation (Redis INCR with EXPIRE, DECR to release) lets several
// count together.
type CodeLimiter interface {
	// Reserve counts one attempt of userID. When the user's current window
	// already holds the maximum it counts nothing and returns how long
	// until the window ends.
	Reserve(ctx context.Context, userID int64) (retryAfter time.Duration, err error)
	// Release gives back an attempt whose code was right.
	Release(ctx context.Context, userID int64) error
}

// MemoryCodeLimiter is an in-process CodeLimiter with fixed windows that
// open at a user's first attempt. It is safe for concurrent use.
type MemoryCodeLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	users   map[int64]codeWindow
	sweepAt int // sweep ended windows when users grows to this size
}

type codeWindow struct {
	start    time.Time
	attempts int
}

// NewMemoryCodeLimiter allows max attempts per user per window, reading the
// time from now.
func NewMemoryCodeLimiter(max int, window time.Duration, now func() time.Time) *MemoryCodeLimiter {
	return &MemoryCodeLimiter{max: max, window: window, now: now, users: make(map[int64]codeWindow), sweepAt: 1024}
}

// Reserve implements CodeLimiter.
func (l *MemoryCodeLimiter) Reserve(_ context.Context, userID int64) (time.Duration, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.users[userID]
	if !ok || !now.Before(w.start.Add(l.window)) {
		l.sweep(now)
		w = codeWindow{start: now}
	}
	if w.attempts >= l.max {
		return w.start.Add(l.window).Sub(now), nil
	}
	w.attempts++
	l.users[userID] = w
	return 0, nil
}

// Release implements CodeLimiter.
func (l *MemoryCodeLimiter) Release(_ context.Context, userID int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.users[userID]
	switch {
	case !ok:
	case w.attempts <= 1: // nothing failed: the next failure opens a new window
		delete(l.users, userID)
	default:
		w.attempts--
		l.users[userID] = w
	}
	return nil
}

// sweep drops ended windows whenever the map has doubled since the last
// sweep, so memory follows the users who erred recently at O(1) amortised
// cost per call.
func (l *MemoryCodeLimiter) sweep(now time.Time) {
	if len(l.users) < l.sweepAt {
		return
	}
	for id, w := range l.users {
		if !now.Before(w.start.Add(l.window)) {
			delete(l.users, id)
		}
	}
	l.sweepAt = max(1024, 2*len(l.users))
}

// Enrolment is a new pending TOTP secret and the otpauth URI that carries
// it. String redacts both.
type Enrolment struct {
	Secret string // base32, 160 bits
	URI    string // otpauth://totp/ISSUER:NAME?secret=…
}

func (Enrolment) String() string   { return "auth.Enrolment{[redacted]}" }
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

// ResetTwoFactor removes a user's two-factor state (an admin's reset).
func (s *Service) ResetTwoFactor(ctx context.Context, id int64) error {
	if err := s.cfg.Store.DisableTOTP(ctx, id); err != nil {
		return err
	}
	s.userChanged(ctx, id)
	s.auditUser(ctx, gatehouse.EventTwoFactorDisabled, id, "reset by an admin")
	return nil
}

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
	s.recordLogin(ctx, name, u, "mfa", err)
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
	pair, err := s.openSession(ctx, u, rbac.Restrict(u.Role, c.Scope), kind)
	return pair, u, err
}

// secondFactor is the 2FA step of a password login of u, whose password
// was right: no otp gets MFARequiredError with a fresh mfa_token for the
// granted scope, a wrong one "invalid_otp".
func (s *Service) secondFactor(ctx context.Context, u *gatehouse.User, scope, otp string) error {
	if s.cfg.Sealer == nil {
		return errNoSealer
	}
	if otp == "" {
		return &MFARequiredError{Token: s.newMFAToken(u.ID, scope), ExpiresIn: MFATokenTTL}
	}
	st, err := s.enabledState(ctx, u.ID)
	if err != nil {
		return err
	}
	return s.requireCode(ctx, u.ID, st, otp, "login", errInvalidOTP)
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
// Every outcome is counted and audited.
func (s *Service) attempt(ctx context.Context, userID int64, purpose string, check func() (bool, error)) (bool, error) {
	wait, err := s.codes.Reserve(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("auth: 2FA limiter: %w", err)
	}
	if wait > 0 {
		s.met.TwoFactor("locked")
		s.met.RateLimited("2fa")
		s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventRateLimited, Outcome: gatehouse.OutcomeFailure,
			UserID: userID, Detail: "2fa " + purpose})
		return false, &CodeLockoutError{RetryAfter: wait}
	}
	ok, err := check()
	if ok || err != nil {
		if rerr := s.codes.Release(ctx, userID); rerr != nil {
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

// mfaClaims is what an mfa_token carries. The token is these claims as
// JSON, sealed (AES-256-GCM) by the Sealer under mfaTokenAAD and prefixed
// with mfaTokenPrefix: opaque to clients, unforgeable, and stateless until
// it is spent, when its ID goes to the NonceStore.
type mfaClaims struct {
	ID      string `json:"jti"`
	UserID  int64  `json:"sub"`
	Scope   string `json:"scope"` // as granted by the password step
	Expires int64  `json:"exp"`   // Unix seconds
}

// mfaTokenAAD sets mfa_tokens apart from sealed TOTP secrets, which the
// same key seals under secretAAD.
var mfaTokenAAD = []byte("gatehouse mfa_token v1")

func (s *Service) newMFAToken(userID int64, scope string) string {
	b, _ := json.Marshal(mfaClaims{ID: token.NewID(), UserID: userID, Scope: scope,
		Expires: s.now().Add(MFATokenTTL).Unix()}) // cannot fail: strings and integers
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
