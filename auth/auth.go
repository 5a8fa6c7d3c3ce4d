// Package auth is Gatehouse's token path: password login, refresh-token
// rotation with reuse detection, logout, and the verification of an access
// token into a Principal. It owns the two in-memory structures that keep
// verification free of database reads — the revocation Mirror and the user
// cache — and the rule that every change to a user goes through it, so
// both stay correct.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/token"
	"github.com/gatehouse/gatehouse/totp"
)

// ReuseGrace is how long after a refresh token's first use a second
// presentation still counts as the same client racing itself (two tabs
// refreshing at once) rather than reuse (contract §3).
const ReuseGrace = 2 * time.Second

// Leeway is the clock skew allowed when checking token times, and the margin
// kept on revocations so they outlive the tokens they cover.
const Leeway = 60 * time.Second

// Broadcaster tells other instances about revocations and user changes after
// they are durably stored. The Redis adapter implements it; a single
// instance needs none.
type Broadcaster interface {
	PublishRevocations(ctx context.Context, revs []gatehouse.Revocation) error
	PublishUserChanged(ctx context.Context, userID int64) error
	PublishAPIKeyChanged(ctx context.Context, keyID int64) error
}

// Hasher hashes and verifies passwords; *password.Hasher is the real one.
type Hasher interface {
	Hash(password string) (string, error)
	Verify(password, encoded string) (ok, needsRehash bool, err error)
	VerifyDummy(password string)
}

// Config configures a Service. Store, Tokens, Hasher and Pool are required.
type Config struct {
	Store      gatehouse.Store
	Tokens     *token.Manager
	Hasher     Hasher
	Pool       *password.Pool
	Policy     password.Policy
	AccessTTL  time.Duration     // default 15m
	RefreshTTL time.Duration     // default 168h
	Auditor    gatehouse.Auditor // optional
	Metrics    *metrics.Metrics  // optional
	Now        func() time.Time
	Logger     *slog.Logger
	CacheSize  int // users kept in memory; default 100,000
	MaxAPIKeys int // live API keys a user may hold; default DefaultMaxAPIKeys
	// KeyPepper keys the HMAC under which API key secrets are stored
	// (≥ 32 bytes, kept apart from the signing key so that rotating one
	// does not void the other). Empty: a random one, so keys last only as
	// long as the Service.
	KeyPepper []byte
	// Sealer encrypts TOTP secrets at rest; TOTPIssuer names the service in
	// authenticator apps (default "Gatehouse").
	Sealer     *totp.Sealer
	TOTPIssuer string
}

// Service runs the token path. It is safe for concurrent use.
type Service struct {
	cfg    Config
	mirror *Mirror
	users  *userCache
	audit  gatehouse.Auditor
	met    *metrics.Metrics
	now    func() time.Time
	log    *slog.Logger

	// bcast tells other instances about changes; nil, as a single
	// instance needs, until SetBroadcaster. codes counts wrong
	// second-factor codes per user: in memory, MaxCodeFailures per
	// CodeFailureWindow (contract §6), until SetCodeLimiter shares it.
	bcast Broadcaster
	codes CodeLimiter

	feedMu  sync.Mutex
	feedSeq int64     // last change-feed entry applied
	feedOK  time.Time // last successful poll

	keys keyState // API keys: apikeys.go
}

// New returns a Service. Call Resync before serving, so that revocations
// made before the start are refused from the first request.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Tokens == nil || cfg.Hasher == nil || cfg.Pool == nil {
		return nil, errors.New("auth: Store, Tokens, Hasher and Pool are required")
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 168 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Auditor == nil {
		cfg.Auditor = nopAuditor{}
	}
	if cfg.TOTPIssuer == "" {
		cfg.TOTPIssuer = "Gatehouse"
	}
	if cfg.MaxAPIKeys <= 0 {
		cfg.MaxAPIKeys = DefaultMaxAPIKeys
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 100_000
	}
	pepper, err := keyPepper(cfg.KeyPepper)
	if err != nil {
		return nil, err
	}
	cfg.KeyPepper = pepper
	return &Service{
		cfg:    cfg,
		mirror: NewMirror(),
		users:  newUserCache(cfg.Store, cfg.CacheSize),
		codes:  NewMemoryCodeLimiter(MaxCodeFailures, CodeFailureWindow, cfg.Now),
		audit:  cfg.Auditor,
		met:    cfg.Metrics,
		now:    cfg.Now,
		log:    cfg.Logger,
	}, nil
}

// Mirror returns the service's revocation mirror, for an adapter that feeds
// it revocations made by other instances.
func (s *Service) Mirror() *Mirror { return s.mirror }

// UserChanged drops a user from the cache, for an adapter that relays
// changes made by other instances.
func (s *Service) UserChanged(id int64) { s.users.invalidate(id) }

// Purge forgets expired revocations in memory and in the store, and deletes
// expired refresh tokens.
func (s *Service) Purge(ctx context.Context) error {
	now := s.now()
	s.mirror.Purge(now)
	_, err1 := s.cfg.Store.PurgeRevocations(ctx, now)
	_, err2 := s.cfg.Store.PurgeSessions(ctx, now)
	// The feed outlives every access token it concerns: the revocation
	// stream rebuilds its user entries from it after a restart.
	_, err3 := s.cfg.Store.PurgeChanges(ctx, now.Add(-max(changeRetention, s.cfg.AccessTTL+Leeway)))
	return errors.Join(err1, err2, err3)
}

// RunPurger calls Purge every interval until ctx ends.
func (s *Service) RunPurger(ctx context.Context, interval time.Duration) {
	s.every(ctx, interval, "purge", s.Purge)
}

// every runs job every interval until ctx ends, logging its failures.
func (s *Service) every(ctx context.Context, interval time.Duration, name string, job func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := job(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn(name+" failed", "err", err)
			}
		}
	}
}

// TokenPair is what a login or a refresh returns (contract §3).
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    int // seconds
	Scope        string
	User         *gatehouse.User
	SessionID    string
}

var (
	errBadCredentials = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_grant", Message: "Incorrect username or password"}
	errInactive       = &gatehouse.Error{Code: gatehouse.EINACTIVE, OAuth: "invalid_grant", Message: "Inactive user"}
	errBadRefresh     = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_grant", Message: "Invalid refresh token"}
	errRefreshReuse   = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_grant", Message: "Refresh token reuse detected; the session has been revoked"}
	errBadToken       = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_token", Message: "Could not validate credentials"}
	errRevoked        = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_token", Message: "Token has been revoked"}
	errBusy           = &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Server busy, try again"}
)

// hash runs fn on the bounded hashing pool, so a flood of logins queues or
// is shed there instead of starving token verification of CPU.
func (s *Service) hash(ctx context.Context, fn func()) error {
	err := s.cfg.Pool.Do(ctx, fn)
	if errors.Is(err, password.ErrBusy) {
		return errBusy
	}
	if err != nil {
		return fmt.Errorf("auth: hashing pool: %w", err)
	}
	return nil
}

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
	pair, u, err := s.login(ctx, username, pw, scope, otp)
	s.recordLogin(ctx, username, u, "password", err)
	return pair, err
}

// recordLogin audits and counts the outcome of a login; a malformed
// request or an overloaded server is not a login attempt.
func (s *Service) recordLogin(ctx context.Context, username string, u *gatehouse.User, grant string, err error) {
	ev := gatehouse.AuditEvent{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeSuccess, Username: username}
	if u != nil {
		ev.UserID = u.ID
	}
	var mfa *MFARequiredError
	switch {
	case err == nil:
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

func (s *Service) login(ctx context.Context, username, pw, scope, otp string) (*TokenPair, *gatehouse.User, error) {
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
	if rehash {
		s.rehash(ctx, u, pw)
	}
	granted := rbac.Grant(u.Role, scope)
	if u.TOTPEnabled {
		if err := s.secondFactor(ctx, u, granted, otp); err != nil {
			return nil, u, err
		}
	}
	pair, err := s.openSession(ctx, u, granted)
	return pair, u, err
}

// rehash upgrades a bcrypt or outdated argon2id hash after a successful
// login (passlib's deprecated="auto"). Failure only costs the upgrade.
func (s *Service) rehash(ctx context.Context, u *gatehouse.User, pw string) {
	h, err := s.hashPassword(ctx, pw)
	if err != nil {
		s.log.WarnContext(ctx, "password rehash skipped", "user_id", u.ID, "err", err)
		return
	}
	old := u.PasswordHash
	_, err = s.cfg.Store.UpdateUser(ctx, u.ID, func(cur *gatehouse.User) error {
		if cur.PasswordHash == old { // changed meanwhile: keep the newer one
			cur.PasswordHash = h
		}
		return nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "password rehash not stored", "user_id", u.ID, "err", err)
		return
	}
	s.userChanged(ctx, u.ID)
}

func (s *Service) openSession(ctx context.Context, u *gatehouse.User, scope string) (*TokenPair, error) {
	now := s.now()
	sess := &gatehouse.Session{ID: token.NewID(), UserID: u.ID, Scope: scope, CreatedAt: now}
	rt := newRefreshToken()
	first := &gatehouse.RefreshToken{Hash: hashRefresh(rt), SessionID: sess.ID, UserID: u.ID, Scope: scope,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL)}
	if err := s.cfg.Store.CreateSession(ctx, sess, first); err != nil {
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

// Refresh spends a refresh token and returns a new access token and a new
// refresh token (rotation, RFC 9700 §4.14.2).
//
// A token presented again within ReuseGrace of its first use gets the same
// successor it got then, with a fresh access token: two tabs refreshing at
// once both stay logged in. Presented later, it is reuse — a sign that it
// was stolen — and the whole login session is revoked: every refresh
// token and every access token of that sid.
func (s *Service) Refresh(ctx context.Context, rt string) (*TokenPair, error) {
	if !wellFormedRefresh(rt) {
		return nil, errBadRefresh
	}
	now := s.now()
	next := newRefreshToken()
	rec := &gatehouse.RefreshToken{Hash: hashRefresh(next), CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL)}
	rot, err := s.cfg.Store.RotateRefreshToken(ctx, hashRefresh(rt), now, rec, sealSuccessor(rt, next))
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, errBadRefresh
	}
	if err != nil {
		return nil, err
	}
	old := rot.Old
	switch {
	case rot.Rotated:
	case rot.SessionRevoked:
		return nil, errBadRefresh
	case old.UsedAt.IsZero(): // unused, so it was refused for its age
		return nil, errBadRefresh
	case now.Sub(old.UsedAt) <= ReuseGrace && len(old.Successor) > 0:
		next, err = openSuccessor(rt, old.Successor)
		if err != nil {
			return nil, fmt.Errorf("auth: refresh within grace: %w", err)
		}
	default:
		s.log.WarnContext(ctx, "refresh token reuse: session revoked", "user_id", old.UserID, "session_id", old.SessionID)
		if err := s.revokeSession(ctx, old.SessionID, now); err != nil {
			return nil, err
		}
		s.met.RefreshReuse()
		s.met.Revocation("reuse")
		s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventRefreshReuse, Outcome: gatehouse.OutcomeFailure,
			UserID: old.UserID, Detail: "session revoked"})
		return nil, errRefreshReuse
	}
	u, err := s.users.get(ctx, old.UserID)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, errBadRefresh
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, errInactive
	}
	pair, err := s.pair(u, old.SessionID, rbac.Restrict(u.Role, old.Scope), next, now)
	if err == nil {
		s.met.TokenIssued("refresh")
		s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventRefresh, Outcome: gatehouse.OutcomeSuccess, UserID: u.ID})
	}
	return pair, err
}

// revokeSession stores the session's revocation, then mirrors and
// broadcasts it. The access-token revocation of a session needs to outlive
// only the access tokens it covers.
func (s *Service) revokeSession(ctx context.Context, sid string, now time.Time, extra ...gatehouse.Revocation) error {
	revs := append([]gatehouse.Revocation{{Kind: gatehouse.RevokeSession, Value: sid,
		ExpiresAt: now.Add(s.cfg.AccessTTL + Leeway)}}, extra...)
	if err := s.cfg.Store.RevokeSession(ctx, sid, now, revs...); err != nil {
		return err
	}
	s.mirror.Add(revs...)
	if s.bcast != nil {
		if err := s.bcast.PublishRevocations(ctx, revs); err != nil {
			// Durable already; other instances catch up at their next resync.
			s.log.WarnContext(ctx, "revocation broadcast failed", "err", err)
		}
	}
	return nil
}

// Logout revokes the principal's access token and its whole login session,
// durably, before it returns.
func (s *Service) Logout(ctx context.Context, p *gatehouse.Principal) error {
	if p.SessionID == "" {
		return gatehouse.Errorf(gatehouse.EBADREQUEST, "Only a token login can be logged out")
	}
	now := s.now()
	err := s.revokeSession(ctx, p.SessionID, now, gatehouse.Revocation{
		Kind: gatehouse.RevokeToken, Value: p.TokenID, ExpiresAt: p.ExpiresAt.Add(Leeway)})
	if err == nil {
		s.met.Revocation("logout")
		s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventLogout, Outcome: gatehouse.OutcomeSuccess, UserID: p.User.ID})
	}
	return err
}

type nopAuditor struct{}

func (nopAuditor) Record(context.Context, gatehouse.AuditEvent) {}

// Authenticate verifies an access token and returns who it acts for. The
// signature, claims, revocation and user checks all run from memory.
// A disabled user's token gets EINACTIVE; a deleted user's, a revoked or a
// bad token EUNAUTHENTICATED.
func (s *Service) Authenticate(ctx context.Context, bearer string) (*gatehouse.Principal, error) {
	c, err := s.cfg.Tokens.Verify(bearer)
	if err != nil {
		return nil, errBadToken
	}
	if s.mirror.Revoked(c.ID, c.SessionID) {
		return nil, errRevoked
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil {
		return nil, errBadToken
	}
	u, err := s.users.get(ctx, id)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, errInactive
	}
	return &gatehouse.Principal{
		User:      u,
		Scope:     rbac.Restrict(u.Role, c.Scope),
		TokenID:   c.ID,
		SessionID: c.SessionID,
		ExpiresAt: time.Unix(c.ExpiresAt, 0),
	}, nil
}

func (s *Service) userChanged(ctx context.Context, id int64) {
	s.users.invalidate(id)
	if s.bcast != nil {
		if err := s.bcast.PublishUserChanged(ctx, id); err != nil {
			s.log.WarnContext(ctx, "user change broadcast failed", "user_id", id, "err", err)
		}
	}
}
