package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/token"
)

// TokenPair is what a login or a refresh returns (contract §3).
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    int // seconds
	Scope        string
	User         *gatehouse.User
	SessionID    string
	// Browser is set, and the tokens empty, when the login opened a
	// browser session (browser.go).
	Browser *BrowserSession
}

// WrongPassword reports whether err is the answer to a wrong username or
// password — a login's, a password change's current password, or the
// password that confirms a passkey change — the outcome a per-username limit counts, rather than to a right password
// (2FA still to come, a disabled account, a wrong code) or a request that
// could not be decided.
func WrongPassword(err error) bool {
	return errors.Is(err, errBadCredentials) || errors.Is(err, errWrongCurrentPassword) || errors.Is(err, errReauthWrong)
}

var (
	errBadCredentials = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_grant", Message: "Incorrect username or password"}
	errInactive       = &gatehouse.Error{Code: gatehouse.EINACTIVE, OAuth: "invalid_grant", Message: "Inactive user"}
)

// Login checks a username and password and opens a login session with the
// granted scopes (the requested ones the user's role allows; all of them
// when none are requested).
//
// An unknown user costs the same hash work as a wrong password and gets
// the same answer, so neither body nor timing tells whether the account
// exists. A disabled account is told so only after its password matched.
// A user with 2FA on gets *MFARequiredError; LoginWithOTP takes the code.
func (s *Service) Login(ctx context.Context, username, pw, scope string) (*TokenPair, error) {
	return s.LoginWithOTP(ctx, username, pw, scope, "")
}

// LoginWithOTP is Login with the second factor of a user who has 2FA on:
// otp is a current TOTP code or an unused recovery code (contract §3). The
// password is checked first, so a wrong one gets the same answer whether or
// not 2FA is on. Without otp the answer is *MFARequiredError, carrying an
// mfa_token that LoginMFA takes in place of the password; a wrong otp is
// 401 "invalid_otp", and counts towards the user's limit on wrong codes.
func (s *Service) LoginWithOTP(ctx context.Context, username, pw, scope, otp string) (*TokenPair, error) {
	pair, u, err := s.login(ctx, gatehouse.SessionToken, username, pw, scope, otp)
	s.recordLogin(ctx, username, u, "password", "", err)
	return pair, err
}

// recordLogin audits and counts the outcome of a login (a success with
// the methods amr of its browser session, when it opened one); a malformed
// request or an overloaded server is not a login attempt.
func (s *Service) recordLogin(ctx context.Context, username string, u *gatehouse.User, grant, amr string, err error) {
	ev := gatehouse.AuditEvent{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeSuccess, Username: username}
	if u != nil {
		ev.UserID = u.ID
	} else {
		ev.Username = s.unknownUsername(username)
	}
	var mfa *MFARequiredError
	switch {
	case err == nil:
		if amr != "" { // the methods a browser session records (RFC 8176): "pwd otp", "hwk user"…
			ev.Detail = "amr: " + amr
		}
		s.met.Login("success")
		s.met.TokenIssued(grant)
	case gatehouse.ErrorCode(err) == gatehouse.EINVALID || gatehouse.ErrorCode(err) == gatehouse.EUNAVAILABLE:
		return
	case errors.As(err, &mfa):
		ev.Outcome, ev.Detail = gatehouse.OutcomePending, gatehouse.ErrorMessage(err)
		s.met.Login("mfa_required")
	default:
		ev.Outcome, ev.Detail = gatehouse.OutcomeFailure, gatehouse.ErrorMessage(err)
		s.met.Login("failure")
	}
	s.audit.Record(ctx, ev)
}

// login checks a login's credentials and opens a session of the kind
// asked for (gatehouse.SessionToken or SessionBrowser): both kinds take
// the one path, with its answers, limits on codes and audit.
func (s *Service) login(ctx context.Context, kind, username, pw, scope, otp string) (*TokenPair, *gatehouse.User, error) {
	if password.TooLong(pw) {
		return nil, nil, gatehouse.Invalid([]string{"body", "password"}, "Password must be at most 1024 bytes", "value_error")
	}
	u, err := s.cfg.Store.UserByUsername(ctx, username)
	if err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
			return nil, nil, err
		}
		if err := s.hash(ctx, func() { s.cfg.Hasher.VerifyDummy(pw) }); err != nil {
			return nil, nil, err
		}
		return nil, nil, errBadCredentials
	}
	var ok, rehash bool
	var verr error
	if err := s.hash(ctx, func() { ok, rehash, verr = s.cfg.Hasher.Verify(pw, u.PasswordHash) }); err != nil {
		return nil, nil, err
	}
	if verr != nil {
		s.log.ErrorContext(ctx, "stored password hash unusable", "user_id", u.ID, "err", verr)
		return nil, u, errBadCredentials
	}
	if !ok {
		return nil, u, errBadCredentials
	}
	if u.Disabled {
		return nil, u, errInactive
	}
	verified := u.PasswordHash
	if rehash {
		verified = s.rehash(ctx, u, pw)
	}
	// The session, or the mfa_token that leads to one, is bound to the
	// hash the password was checked against: if the password is changed
	// meanwhile, neither opens a session after the change.
	cred := gatehouse.CredentialFingerprint(verified)
	granted := rbac.Grant(u.Role, scope)
	if u.TOTPEnabled {
		if err := s.secondFactor(ctx, u, granted, otp, cred); err != nil {
			return nil, u, err
		}
	}
	pair, err := s.openSession(ctx, u, granted, kind, cred)
	return pair, u, err
}

// rehash upgrades a bcrypt or outdated argon2id hash after a successful
// login (passlib's deprecated="auto") and returns the hash the password
// now stands for: the new one, or u's when the upgrade failed, which only
// costs the upgrade. A hash changed meanwhile is kept, and the login,
// bound to the one it checked, then opens nothing.
func (s *Service) rehash(ctx context.Context, u *gatehouse.User, pw string) string {
	h, err := s.hashPassword(ctx, pw)
	if err != nil {
		s.log.WarnContext(ctx, "password rehash skipped", "user_id", u.ID, "err", err)
		return u.PasswordHash
	}
	old := u.PasswordHash
	stored := false
	_, _, err = s.cfg.Store.UpdateUser(ctx, u.ID, gatehouse.UserEdit{Apply: func(cur *gatehouse.User) error {
		if stored = cur.PasswordHash == old; stored { // changed meanwhile: keep the newer one
			cur.PasswordHash = h
		}
		return nil
	}})
	if err != nil {
		s.log.WarnContext(ctx, "password rehash not stored", "user_id", u.ID, "err", err)
		return old
	}
	s.userChanged(ctx, u.ID)
	if !stored {
		return old
	}
	return h
}

// openSession opens a session of kind for u, who has just proved every
// factor the account asks for, recording where the login came from, and
// bound to cred, the fingerprint of the password hash the login verified
// (contract §12): a password changed since is 401, as a wrong one is.
func (s *Service) openSession(ctx context.Context, u *gatehouse.User, scope, kind, cred string) (*TokenPair, error) {
	now := s.now()
	sess := s.newSession(ctx, u, scope, kind, now)
	sess.Credential = cred
	if kind == gatehouse.SessionBrowser {
		pair, err := s.openBrowserSession(ctx, u, sess)
		if errors.Is(err, gatehouse.ErrCredentialChanged) {
			return nil, errBadCredentials
		}
		return pair, err
	}
	rt := newRefreshToken()
	first := &gatehouse.RefreshToken{Hash: hashRefresh(rt), SessionID: sess.ID, UserID: u.ID, Scope: scope,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL)}
	if err := s.cfg.Store.CreateSession(ctx, sess, first); err != nil {
		if errors.Is(err, gatehouse.ErrCredentialChanged) {
			return nil, errBadCredentials
		}
		return nil, err
	}
	return s.pair(u, sess.ID, scope, rt, now)
}

// pair issues an access token for the session and pairs it with rt.
func (s *Service) pair(u *gatehouse.User, sid, scope, rt string, now time.Time) (*TokenPair, error) {
	at, err := s.cfg.Tokens.Issue(token.Claims{
		Subject:   strconv.FormatInt(u.ID, 10),
		ID:        token.NewID(),
		SessionID: sid,
		Scope:     scope,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		ExpiresAt: now.Add(s.cfg.AccessTTL).Unix(),
	})
	if err != nil {
		return nil, fmt.Errorf("auth: issue access token: %w", err)
	}
	return &TokenPair{AccessToken: at, RefreshToken: rt, ExpiresIn: int(s.cfg.AccessTTL / time.Second),
		Scope: scope, User: u, SessionID: sid}, nil
}

// unknownUsername is what the audit records (and logs) of a login's
// username that names no user: "unknown:" and the first 64 bits of an
// HMAC-SHA-256 of its lookup key under Config.UsernameKey. Such a name is
// often a password typed into the wrong field, so it is never stored as
// typed; the same name still reads the same in every event (Alice and
// alice alike), so that a spray at one name stays visible.
func (s *Service) unknownUsername(name string) string {
	if name == "" {
		return ""
	}
	m := hmac.New(sha256.New, s.cfg.UsernameKey)
	m.Write([]byte("gatehouse audit username v1\x00"))
	m.Write([]byte(gatehouse.UsernameKey(name)))
	return "unknown:" + hex.EncodeToString(m.Sum(nil)[:8])
}
