package gatehouse

import (
	"context"
	"time"
)

// UserStore keeps accounts. Usernames are unique by their lookup key
// (UsernameKey).
type UserStore interface {
	// CreateUser stores u and sets its ID and times. ECONFLICT when the
	// username is taken.
	CreateUser(ctx context.Context, u *User) error
	// UserByID returns the user or ENOTFOUND.
	UserByID(ctx context.Context, id int64) (*User, error)
	// UserByUsername looks a user up by name (normalised with UsernameKey by
	// the store) or ENOTFOUND.
	UserByUsername(ctx context.Context, name string) (*User, error)
	// ListUsers returns up to limit users with ID > after, by ID.
	ListUsers(ctx context.Context, after int64, limit int) ([]*User, error)
	// UpdateUser reads the user, applies e.Apply and writes the result,
	// with every effect of the change, in one transaction:
	//   - when Apply clears TOTPEnabled, the user's two-factor state (its
	//     secrets and recovery codes) goes, as with DisableTOTP;
	//   - with e.EndSessions set, every session of the user not yet
	//     revoked, but EndSessions.Except, is revoked as RevokeSession
	//     would, with a session revocation until EndSessions.Until; those
	//     revocations are returned, for the caller to mirror.
	// The user change and the revocations enter the change feed. ENOTFOUND
	// when absent; ErrLastAdmin (EFORBIDDEN) when the change would leave no
	// enabled admin; Apply's error is returned as is. A refused change
	// changes nothing.
	UpdateUser(ctx context.Context, id int64, e UserEdit) (*User, []Revocation, error)
	// DeleteUser deletes the user and everything it owns. ENOTFOUND when
	// absent; EFORBIDDEN when it is the last enabled admin.
	DeleteUser(ctx context.Context, id int64) error
	// CountUsers returns how many users exist.
	CountUsers(ctx context.Context) (int, error)
}

// UserEdit is one change to a user, which UserStore.UpdateUser makes in
// one transaction.
type UserEdit struct {
	// Apply changes the user as read (nil: no change to the row); its
	// error aborts the change.
	Apply func(*User) error
	// EndSessions, when set, ends the user's login sessions in the same
	// transaction: a password change does (OWASP ASVS 3.3.3), so that a
	// token issued under the old password never outlives it.
	EndSessions *SessionEnd
}

// SessionEnd says how UserStore.UpdateUser ends a user's sessions.
type SessionEnd struct {
	At     time.Time // when they are revoked
	Until  time.Time // when their revocations may be forgotten: once every access token, and browser session cookie, they cover has expired
	Except string    // a session to keep (contract §12: the one users change their own password from), "" for none
}

// SessionStore keeps login sessions and their refresh tokens.
type SessionStore interface {
	// CreateSession stores a new session with its first refresh token, or
	// with none (first nil) for a browser session, which ends at its
	// ExpiresAt instead. When s.Credential is set, it does so only if the
	// user's password hash still has that fingerprint
	// (CredentialFingerprint), checked in the same transaction and
	// serialised with UpdateUser: a login that verified a password
	// concurrently changed either opens its session before the change,
	// which then ends it, or gets ErrCredentialChanged.
	CreateSession(ctx context.Context, s *Session, first *RefreshToken) error
	// RotateRefreshToken finds the token with hash oldHash and, if it is
	// unused, unexpired at now, its session live and within limit,
	// atomically marks it used at now with sealedNext as its successor and
	// stores next, whose SessionID, UserID and Scope it fills from the old
	// token. Of two concurrent calls with the same oldHash exactly one
	// rotates. Over the session's limit it changes nothing and says when
	// to come back (Rotation.RetryAfter); a token that is used, expired or
	// of a revoked session is reported as before, whatever the limit, so
	// that reuse is always detected. ENOTFOUND when no token has that hash.
	RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, next *RefreshToken, sealedNext []byte, limit RefreshLimit) (Rotation, error)
	// RevokeSession marks the session revoked at now, so none of its refresh
	// tokens rotates again, and stores revs in the same transaction.
	// Revoking an already revoked or unknown session is not an error.
	RevokeSession(ctx context.Context, sessionID string, now time.Time, revs ...Revocation) error
	// LiveSessions returns the ids of the user's sessions not revoked.
	LiveSessions(ctx context.Context, userID int64) ([]string, error)
	// PurgeSessions deletes refresh tokens expired before now, spent ones
	// used before spentBefore (reuse detection no longer needs them),
	// token sessions left without tokens, and browser sessions expired
	// before now.
	PurgeSessions(ctx context.Context, now, spentBefore time.Time) (int64, error)
}

// RevocationStore is the durable record of revoked access tokens and
// sessions, which every instance mirrors in memory.
type RevocationStore interface {
	// AddRevocations stores revs; adding one twice is not an error.
	AddRevocations(ctx context.Context, revs ...Revocation) error
	// EachRevocation calls fn with every revocation unexpired at now, in
	// no particular order, reading them as it goes (a million live
	// revocations are never held in one slice); it stops at fn's first
	// error and returns it.
	EachRevocation(ctx context.Context, now time.Time, fn func(Revocation) error) error
	// CountRevocations returns how many revocations are unexpired at now,
	// for sizing what will hold them.
	CountRevocations(ctx context.Context, now time.Time) (int64, error)
	// PurgeRevocations deletes revocations and nonces expired before now.
	PurgeRevocations(ctx context.Context, now time.Time) (int64, error)
}

// SettingStore keeps server-wide settings such as the generated signing key.
type SettingStore interface {
	// Setting returns the value or ENOTFOUND.
	Setting(ctx context.Context, key string) (string, error)
	// SetSettingIfAbsent stores value unless key exists, and returns the
	// value in force: of two instances starting at once, both end up with
	// the same secret.
	SetSettingIfAbsent(ctx context.Context, key, value string) (string, error)
	// SwapSetting sets key to new if it holds old, and reports whether it
	// did: of instances racing to change one setting, one wins and the
	// others can read what it set. A missing key holds nothing to swap.
	SwapSetting(ctx context.Context, key, old, new string) (bool, error)
}

// ChangeFeed is the ordered log of changes that every instance must apply
// to its in-memory state: user changes (to drop cached users) and
// revocations. Stores append to it in the same transaction as the change
// itself, so a process that polls it — another instance, or the server
// after an admin used the CLI — never misses one. Redis, when configured,
// only makes the news travel faster.
type ChangeFeed interface {
	// LatestChange returns the sequence number of the newest change, 0 when
	// there is none.
	LatestChange(ctx context.Context) (int64, error)
	// ChangesSince returns up to limit changes with Seq > after, oldest first.
	ChangesSince(ctx context.Context, after int64, limit int) ([]Change, error)
	// PurgeChanges deletes changes recorded before t.
	PurgeChanges(ctx context.Context, t time.Time) (int64, error)
}

// Change is one entry of the ChangeFeed: a user changed (UserID set), an
// API key was deactivated (APIKeyID set), or a revocation was stored
// (Revocation set).
type Change struct {
	Seq        int64
	UserID     int64
	APIKeyID   int64
	Revocation *Revocation
}

// APIKeyStore keeps API keys. Only a keyed hash of a key's secret is stored.
type APIKeyStore interface {
	// CreateAPIKey stores k and sets its ID. ECONFLICT when LookupID is
	// taken, and TooManyAPIKeys (also ECONFLICT) when maxLive > 0 and k's
	// user already holds maxLive live keys (active, and unexpired at
	// k.CreatedAt). Count and insert are one step: concurrent creations
	// cannot pass the cap together.
	CreateAPIKey(ctx context.Context, k *APIKey, maxLive int) error
	// APIKeyByLookup returns the key with that lookup id, or ENOTFOUND.
	APIKeyByLookup(ctx context.Context, lookupID string) (*APIKey, error)
	// APIKeysByUser returns a user's keys, newest first.
	APIKeysByUser(ctx context.Context, userID int64) ([]*APIKey, error)
	// DeactivateAPIKey marks the key inactive and records the change.
	// ENOTFOUND when there is no such key.
	DeactivateAPIKey(ctx context.Context, id int64) error
	// TouchAPIKeys records last-use times in one batch (the server buffers
	// them rather than writing on every request).
	TouchAPIKeys(ctx context.Context, used map[int64]time.Time) error
}

// ItemStore keeps the guide's example items.
type ItemStore interface {
	// CreateItem stores it and sets its ID and CreatedAt.
	CreateItem(ctx context.Context, it *Item) error
	// ItemsByOwner returns up to limit of an owner's items, oldest first.
	ItemsByOwner(ctx context.Context, ownerID int64, limit int) ([]*Item, error)
}

// TOTPStore keeps two-factor state. Secrets arrive sealed (encrypted) and
// are stored as given.
type TOTPStore interface {
	// TOTP returns the user's state, or ENOTFOUND when never set up.
	TOTP(ctx context.Context, userID int64) (*TOTP, error)
	// SetPendingTOTP stores a pending secret, replacing an earlier pending
	// one; an enabled secret is kept until the pending one is verified.
	SetPendingTOTP(ctx context.Context, userID int64, sealed string) error
	// EnableTOTP makes the pending secret, if it is still sealedPending, the
	// enabled one, records step as used, replaces the recovery codes with
	// recoveryHashes and sets the user's TOTPEnabled, all atomically.
	// ECONFLICT when the pending secret changed meanwhile.
	EnableTOTP(ctx context.Context, userID int64, sealedPending string, step int64, recoveryHashes []string) error
	// UseTOTPStep records step as used if it is later than the last used
	// step, atomically, and reports whether it was: of two concurrent calls
	// with one step, exactly one gets true (RFC 6238 §5.2).
	UseTOTPStep(ctx context.Context, userID, step int64) (bool, error)
	// UseRecoveryCode deletes the code with that hash and reports whether it
	// existed; of two concurrent calls exactly one gets true.
	UseRecoveryCode(ctx context.Context, userID int64, hash string) (bool, error)
	// ReplaceRecoveryCodes voids every recovery code and stores hashes.
	ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string) error
	// DisableTOTP removes all two-factor state and clears TOTPEnabled.
	DisableTOTP(ctx context.Context, userID int64) error
	// ResealTOTP replaces the user's sealed secret old with new (the same
	// secret under the current key) if it is still old, and reports whether
	// it did: a concurrent change wins.
	ResealTOTP(ctx context.Context, userID int64, old, new string) (bool, error)
}

// NonceStore remembers single-use values until they expire.
type NonceStore interface {
	// UseNonce records id and reports whether this was its first use; of
	// two concurrent calls exactly one gets true.
	UseNonce(ctx context.Context, id string, expires time.Time) (bool, error)
	// NonceUsed reports whether id has been used (and not yet purged),
	// without using it: a cheap refusal before work that UseNonce would
	// only refuse after.
	NonceUsed(ctx context.Context, id string) (bool, error)
}

// AuditStore keeps the audit log.
type AuditStore interface {
	// AddAuditEvents stores events and sets their IDs.
	AddAuditEvents(ctx context.Context, events ...*AuditEvent) error
	// AuditEvents returns events matching f, newest first.
	AuditEvents(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
	// PurgeAudit deletes events older than t.
	PurgeAudit(ctx context.Context, t time.Time) (int64, error)
}

// Store is everything one backend provides.
type Store interface {
	UserStore
	SessionStore
	RefreshTokenReader
	SessionInfoStore
	UserSearchStore
	RevocationStore
	SettingStore
	ChangeFeed
	APIKeyStore
	ItemStore
	TOTPStore
	NonceStore
	AuditStore
	SigningKeyStore
	PasskeyStore
	OAuthStore
	// Ping reports whether the backend answers.
	Ping(ctx context.Context) error
	Close() error
}

// CollectRevocations returns every revocation s holds unexpired at now, in
// one slice: for tests and small stores; servers stream them.
func CollectRevocations(ctx context.Context, s RevocationStore, now time.Time) ([]Revocation, error) {
	var out []Revocation
	err := s.EachRevocation(ctx, now, func(r Revocation) error {
		out = append(out, r)
		return nil
	})
	return out, err
}
