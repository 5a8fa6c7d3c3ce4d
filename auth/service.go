// Package auth is Gatehouse's application service: password login,
// refresh-token rotation with reuse detection, logout, the verification of
// an access token or an API key into a Principal, users, API keys and
// two-factor authentication. It owns the in-memory structures that keep
// verification free of database reads — the revocation Mirror and the
// caches of users and keys — and the rule that every change to a user goes
// through it, so that they stay correct.
//
// One file per concern:
//
//	service.go       Config, New, the Service and what every part shares
//	login.go         password login, the session it opens, hash upgrades
//	mfatoken.go      the second step of a login with 2FA: the mfa_token
//	refresh.go       refresh-token rotation, reuse detection and its crypto
//	logout.go        logout: revoking a session
//	authenticate.go  access token → Principal, from memory
//	apikeys.go       API keys: create, authenticate from memory, revoke
//	users.go         accounts: create, change, delete, the first admin
//	twofactor.go     TOTP enrolment, codes, recovery codes
//	codelimit.go     the per-user limit on wrong second-factor codes
//	reseal.go        re-encrypting TOTP secrets under a new key
//	passkeys.go      passkeys: registration, sign-in, deletion (WebAuthn)
//	revocations.go   the revocation Mirror
//	cache.go         the bounded cache of users and of API keys
//	watcher.go       the change feed: what other processes changed
//	purge.go         forgetting what has expired
package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/passkey"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/token"
	"github.com/gatehouse/gatehouse/totp"
)

// Leeway is the clock skew allowed when checking token times, and the margin
// kept on revocations so they outlive the tokens they cover.
const Leeway = 60 * time.Second

// DefaultUserCacheSize is Config.UserCacheSize's default.
const DefaultUserCacheSize = 250_000

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
	SessionTTL time.Duration     // a browser session's absolute lifetime; default 12h (browser.go)
	Auditor    gatehouse.Auditor // optional
	Metrics    *metrics.Metrics  // optional
	Now        func() time.Time
	Logger     *slog.Logger
	CacheSize  int // API keys kept in memory; default 100,000
	// UserCacheSize bounds the users kept in memory for verification
	// (about 420 bytes each); default DefaultUserCacheSize.
	UserCacheSize int
	MaxAPIKeys    int // live API keys a user may hold; default DefaultMaxAPIKeys
	// UsernameKey keys the hash under which the audit records a username
	// that names no user (a password typed into the username field must
	// not be stored). Keep it out of the database, as
	// GATEHOUSE_ENCRYPTION_KEY is, so that a copy of the database is no
	// oracle for what was typed; instances that share a database should
	// share it, so that one name reads the same from each. Empty: a random
	// one, for this Service's lifetime.
	UsernameKey []byte
	// KeyPepper keys the HMAC under which API key secrets are stored
	// (≥ 32 bytes, kept apart from the signing key so that rotating one
	// does not void the other). Empty: a random one, so keys last only as
	// long as the Service.
	KeyPepper []byte
	// Sealer encrypts TOTP secrets at rest; TOTPIssuer names the service in
	// authenticator apps (default "Gatehouse").
	Sealer     *totp.Sealer
	TOTPIssuer string
	// Broadcaster tells other instances about revocations and changes to
	// users and keys; nil, as a single instance needs, for none.
	Broadcaster Broadcaster
	// KeyMissLimit bounds, per client, the database reads of API keys
	// that turn out not to exist (keyLookups); default
	// DefaultKeyMissLimit. Counted in this process's memory: it bounds
	// what one client costs each instance's database reads.
	KeyMissLimit ratelimit.Limit
	// SessionRefreshLimit bounds the rotations of one login session's
	// refresh tokens (contract §12), enforced by the store in the
	// rotation's transaction, so on every instance at once; default
	// DefaultSessionRefreshLimit.
	SessionRefreshLimit ratelimit.Limit
	// CodeLimiter counts wrong second-factor codes per user (contract §6);
	// nil: in memory, MaxCodeFailures per CodeFailureWindow. Instances
	// behind one name share one (Redis).
	CodeLimiter CodeLimiter
	// Passkeys runs the WebAuthn ceremonies (passkeys.go); nil: passkeys
	// are unavailable. MaxPasskeys is how many a user may hold; default
	// gatehouse.DefaultMaxPasskeys.
	Passkeys    *passkey.RP
	MaxPasskeys int
}

// Service runs the token path. It is safe for concurrent use.
type Service struct {
	cfg    Config
	mirror *Mirror
	users  *cache[int64, *cachedUser]        // users.go
	keys   *cache[string, *gatehouse.APIKey] // apikeys.go
	audit  gatehouse.Auditor
	met    *metrics.Metrics
	now    func() time.Time
	log    *slog.Logger

	bcast Broadcaster // nil for a single instance
	codes CodeLimiter

	feedMu  sync.Mutex
	feedSeq int64     // last change-feed entry applied
	feedOK  time.Time // last successful poll

	keyUses keyUses // apikeys.go

	browser browserState // browser sessions and sessions' last use: browser.go, sessions.go
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
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
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
	if cfg.MaxPasskeys <= 0 {
		cfg.MaxPasskeys = gatehouse.DefaultMaxPasskeys
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 100_000
	}
	if cfg.UserCacheSize <= 0 {
		cfg.UserCacheSize = DefaultUserCacheSize
	}
	pepper, err := keyPepper(cfg.KeyPepper)
	if err != nil {
		return nil, err
	}
	cfg.KeyPepper = pepper
	if len(cfg.UsernameKey) == 0 {
		cfg.UsernameKey = make([]byte, 32)
		rand.Read(cfg.UsernameKey)
	}
	if cfg.SessionRefreshLimit.Rate == 0 {
		cfg.SessionRefreshLimit = DefaultSessionRefreshLimit
	}
	if l := cfg.SessionRefreshLimit; l.Rate < 1 || l.Burst < 1 || l.Period <= 0 {
		return nil, errors.New("auth: SessionRefreshLimit needs a positive rate, burst and period")
	}
	if cfg.KeyMissLimit.Rate == 0 {
		cfg.KeyMissLimit = DefaultKeyMissLimit
	}
	misses, err := ratelimit.New(ratelimit.NewMemoryStore(100_000), cfg.KeyMissLimit, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("auth: KeyMissLimit: %w", err)
	}
	if cfg.CodeLimiter == nil {
		cfg.CodeLimiter = NewMemoryCodeLimiter(MaxCodeFailures, CodeFailureWindow, cfg.Now)
	}
	s := &Service{
		cfg:    cfg,
		mirror: NewMirror(),
		users:  newUserCache(cfg.Store, cfg.UserCacheSize),
		bcast:  cfg.Broadcaster,
		codes:  cfg.CodeLimiter,
		audit:  cfg.Auditor,
		met:    cfg.Metrics,
		now:    cfg.Now,
		log:    cfg.Logger,
	}
	s.keys = newKeyCache(keyLookups{APIKeyStore: cfg.Store, misses: misses, s: s}, cfg.CacheSize)
	return s, nil
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

var errBusy = &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Server busy, try again"}

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

type nopAuditor struct{}

func (nopAuditor) Record(context.Context, gatehouse.AuditEvent) {}
