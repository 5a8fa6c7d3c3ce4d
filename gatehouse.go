// Package gatehouse holds Gatehouse's domain: users, roles, login sessions,
// revocations, the principal a request acts as, the error codes every layer
// speaks, and the store contracts that the sqlite and postgres adapters
// implement. It imports no adapter and no HTTP code.
package gatehouse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Role is a user's role. Roles are ordered: admin ⊇ moderator ⊇ user.
type Role string

// The roles, lowest first.
const (
	RoleUser      Role = "user"
	RoleModerator Role = "moderator"
	RoleAdmin     Role = "admin"
)

// Rank orders roles; an unknown role ranks below every real one.
func (r Role) Rank() int {
	switch r {
	case RoleUser:
		return 1
	case RoleModerator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r.Rank() > 0 }

// AtLeast reports whether r grants everything min grants. The guide's exact
// match (an admin cannot moderate) is a bug this fixes.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.Rank() >= min.Rank() }

// Permissions held by default by a role (contract §4).
const (
	PermReadUsers   = "read:users"
	PermWriteUsers  = "write:users"
	PermDeleteUsers = "delete:users"
)

// OAuth2 scopes a token may carry (contract §4).
const (
	ScopeReadItems  = "read:items"
	ScopeWriteItems = "write:items"
	ScopeAdmin      = "admin"
	// ScopeReadRevocations lets a resource server follow the revocation
	// stream. Only admins may hold it, and only by asking for it by name:
	// a login or an API key without a scope list never gets it.
	ScopeReadRevocations = "read:revocations"
)

// User is an account. PasswordHash is a PHC string (argon2id) or an imported
// bcrypt hash; it never leaves the server.
type User struct {
	ID           int64
	Username     string // as registered, NFKC-normalised
	Email        string
	FullName     string
	PasswordHash string
	Role         Role
	Permissions  []string // extra permissions beyond the role's defaults
	Disabled     bool
	TOTPEnabled  bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// EnabledAdmin reports whether u counts towards the rule that the server
// always keeps at least one enabled admin (ErrLastAdmin).
func (u *User) EnabledAdmin() bool { return u.Role == RoleAdmin && !u.Disabled }

// UserSnapshot is one version of a user, frozen: it is made from a copy
// and gives its user out only as further copies, so nothing done with what
// it gives out, or with what it was made from, changes it. The auth
// service makes one for each version of a user it caches and puts it in
// the Principal of every request that authenticates as that version: a
// *UserSnapshot names one version of a user, and what is derived from it
// alone (the JSON of /users/me) may be kept for as long as it lives.
type UserSnapshot struct {
	u    User
	memo atomic.Pointer[[]byte]
}

// Memo returns what make encodes from the snapshot's user, made on the
// first call and kept with the snapshot (and freed with it) after: for one
// encoding only, the JSON of /users/me. Calls racing the first may each
// run make; one result is kept.
func (s *UserSnapshot) Memo(make func(*User) ([]byte, error)) ([]byte, error) {
	if b := s.memo.Load(); b != nil {
		return *b, nil
	}
	b, err := make(s.User())
	if err != nil {
		return nil, err
	}
	s.memo.CompareAndSwap(nil, &b)
	return *s.memo.Load(), nil
}

// NewUserSnapshot freezes a copy of u.
func NewUserSnapshot(u *User) *UserSnapshot {
	return &UserSnapshot{u: u.clone()}
}

// User returns a copy of the user, the caller's to change.
func (s *UserSnapshot) User() *User {
	u := s.u.clone()
	return &u
}

// clone returns a copy of u that shares nothing with it.
func (u *User) clone() User {
	c := *u
	c.Permissions = slices.Clone(u.Permissions)
	return c
}

// Session is one login: every access and refresh token issued from one
// password login, through all its refreshes, shares the session's ID (the
// `sid` claim), so the whole chain can be revoked at once (RFC 9700 §4.14).
type Session struct {
	ID        string
	UserID    int64
	Scope     string // space-separated scopes granted at login
	CreatedAt time.Time
	// Credential is the CredentialFingerprint of the password hash the
	// login verified, "" for a login that verified no password. The store
	// opens the session only while the user's hash still has it, so a
	// login that checked a password being changed cannot open a session
	// after the change (contract §12).
	Credential string
	// ClientID is the OAuth client the session was opened for
	// (SessionOAuth), "" otherwise: its refresh tokens rotate only for
	// that client (contract §13).
	ClientID string

	// What the sessions list shows (contract §11; sessions.go).
	Kind       string    // SessionToken or SessionBrowser
	ExpiresAt  time.Time // a browser session's absolute end; zero for a token session
	AuthTime   time.Time // when the user authenticated (OIDC auth_time)
	AMR        string    // space-separated methods used: "pwd", "pwd otp" (RFC 8176)
	LastUsedAt time.Time // zero: never used since the login
	ClientIP   string    // of the login
	UserAgent  string    // of the login, capped
}

// CredentialFingerprint names one password hash of a user: the first 128
// bits of the SHA-256 of its stored string (a PHC string, salt included).
// A new password, even the same one hashed again, gets a new fingerprint.
// It helps no one crack the password: it is a hash of a hash that is
// itself salted and slow, and is only ever compared with another
// fingerprint by the server.
func CredentialFingerprint(passwordHash string) string {
	sum := sha256.Sum256([]byte(passwordHash))
	return hex.EncodeToString(sum[:16])
}

// RefreshToken is the stored form of an opaque refresh token: only a hash of
// the token is kept. A used token keeps its successor sealed under a key
// derived from the used token itself, so a concurrent duplicate refresh within
// the grace window can be answered with the same successor, while a copy of
// the database alone reveals no usable token.
type RefreshToken struct {
	Hash      string // hex SHA-256 of the token
	SessionID string
	UserID    int64
	Scope     string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
	Successor []byte    // sealed successor token, set when used
}

// Rotation is what RotateRefreshToken found and did.
type Rotation struct {
	Old            RefreshToken // the presented token as stored (before this call's change)
	Rotated        bool         // true: Old is now used and the successor stored
	SessionRevoked bool         // the token's session was revoked (logout or reuse)
	ClientID       string       // the session's OAuth client, "" for a first-party login
	// RetryAfter, when positive, says the rotation was refused by the
	// session's RefreshLimit, changing nothing, and when the next may come.
	RetryAfter time.Duration
}

// RefreshLimit bounds how often one session's refresh tokens rotate, with
// the generic cell rate algorithm of package ratelimit: one rotation costs
// Interval, and up to Burst may come at once (contract §12). The zero
// value sets no limit.
type RefreshLimit struct {
	Interval time.Duration
	Burst    int
}

// Take is one GCRA step of a session whose next rotation was due at tat
// (zero: never rotated): the TAT to store if the rotation at now is
// allowed, or how long until one would be. Both stores call it inside the
// rotation's transaction, so the decision and the new TAT are atomic.
func (l RefreshLimit) Take(tat, now time.Time) (next time.Time, retryAfter time.Duration) {
	if l.Interval <= 0 {
		return tat, 0
	}
	if tat.Before(now) {
		tat = now
	}
	next = tat.Add(l.Interval)
	if over := next.Sub(now) - time.Duration(l.Burst)*l.Interval; over > 0 {
		return tat, over
	}
	return next, 0
}

// Revocation kinds: a single access token by its jti, or a whole login
// session by its sid.
const (
	RevokeToken   = "jti"
	RevokeSession = "sid"
)

// Revocation names a revoked access token or login session. It can be
// forgotten after ExpiresAt, when every token it covers has expired anyway.
type Revocation struct {
	Kind      string
	Value     string
	ExpiresAt time.Time
}

// Principal is who a request acts as: a user through an access token or an
// API key.
type Principal struct {
	// User is shared by every request of the same version of the user
	// (the auth service's cache hands it out): read it, never change it.
	User *User
	// Snapshot is that version of User, frozen; nil when the principal
	// does not come from the auth service (guard.Remote's).
	Snapshot  *UserSnapshot
	Scope     string // space-separated scopes of the token or key
	TokenID   string // jti, for tokens
	SessionID string // sid, for tokens
	ExpiresAt time.Time
	APIKeyID  int64 // for API keys
	KeyName   string
}

// HasScope reports whether the principal's token or key carries scope.
func (p *Principal) HasScope(scope string) bool { return HasScope(p.Scope, scope) }

// HasScope reports whether the space-separated list contains scope, without
// allocating.
func HasScope(list, scope string) bool {
	for list != "" {
		var s string
		s, list, _ = strings.Cut(list, " ")
		if s == scope {
			return true
		}
	}
	return false
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, if any.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	if p, ok := ctx.Value(principalKey{}).(*Principal); ok && p != nil {
		return p, true
	}
	if ri, ok := ctx.Value(requestInfoKey{}).(*RequestInfo); ok && ri.Principal != nil {
		return ri.Principal, true
	}
	return nil, false
}

// SetPrincipal records p as the principal of the request ctx belongs to,
// without deriving a new context, when ctx carries a RequestInfo (as every
// request to the Gatehouse server does). It reports whether it could;
// otherwise the caller uses NewContext.
func SetPrincipal(ctx context.Context, p *Principal) bool {
	ri, ok := ctx.Value(requestInfoKey{}).(*RequestInfo)
	if ok {
		ri.Principal = p
	}
	return ok
}

// APIKey is a long-lived credential of a user for programs. The key itself
// is Prefix + "_" + secret; only a keyed hash of the secret is stored.
type APIKey struct {
	ID         int64
	UserID     int64
	Name       string
	LookupID   string // the public part of the key, unique: finds the row without a scan
	SecretHash []byte // HMAC-SHA-256 of the secret part
	Scope      string // space-separated; never more than the owner may hold
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never expires
	LastUsedAt time.Time // zero: never used
	Active     bool
}

// Item is the guide's example resource.
type Item struct {
	ID          int64
	OwnerID     int64
	Name        string
	Description string
	Price       *float64
	CreatedAt   time.Time
}

// TOTP is a user's two-factor state. Secrets are sealed (AES-256-GCM).
type TOTP struct {
	UserID   int64
	Secret   string // sealed enabled secret; "" when not enabled
	Pending  string // sealed secret awaiting its first code; "" when none
	Enabled  bool
	LastStep int64 // last accepted time step: a code is accepted once
}

// AuditEvent is one entry of the audit log (contract §9). It never holds a
// secret: no password, token, key or code.
type AuditEvent struct {
	ID        int64
	Time      time.Time
	Type      string // e.g. "login", "refresh_reuse", "logout", "api_key_created"
	Outcome   string // "success", "failure" or "pending" (OutcomePending)
	UserID    int64  // 0 when unknown
	Username  string // as presented, for failed logins of unknown users
	ClientIP  string
	UserAgent string
	RequestID string
	Path      string // never the query string
	Detail    string
	// Count is how many events the entry stands for: 1 (0 is read as 1),
	// or more for a summary of refusals from one client that the audit
	// recorder aggregated (contract §12).
	Count int64
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	UserID int64
	Type   string
	Since  time.Time
	Until  time.Time
	Before int64 // cursor: only events with ID < Before
	Limit  int
}
