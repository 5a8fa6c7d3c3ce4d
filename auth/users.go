package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/rbac"
)

// errNoUser is the user cache's answer for an id remembered as missing.
var errNoUser = gatehouse.Errorf(gatehouse.ENOTFOUND, "User not found")

// newUserCache returns the cache of the users that tokens and keys name.
// Ids the store did not have are remembered, so a still-valid token of a
// deleted user reads the database once rather than at every request until
// it expires: user ids are never reused (AUTOINCREMENT in SQLite, an
// identity column in PostgreSQL; storetest checks it), and an id is known
// to no token, key or session before its user is stored.
func newUserCache(store gatehouse.UserStore, max int) *cache[int64, *cachedUser] {
	load := func(ctx context.Context, id int64) (*cachedUser, error) {
		u, err := store.UserByID(ctx, id)
		if err != nil {
			return nil, err
		}
		// Verification never needs the password hash (every password
		// check reads the user from the store): it is not kept, which
		// saves a third of a cached user's memory and keeps hashes out of
		// the process's long-lived memory.
		u.PasswordHash = ""
		return &cachedUser{User: *u, snap: gatehouse.NewUserSnapshot(u)}, nil
	}
	c := newCache(max, load, func(c *cachedUser) int64 { return c.ID }, errNoUser)
	c.keyIsID = true
	return c
}

// cachedUser is one version of a user as the cache shares it: the user
// that principals read (by pointer, so that a verification copies
// nothing), and its frozen snapshot, made once per version. PasswordHash
// is empty in both.
type cachedUser struct {
	gatehouse.User
	snap *gatehouse.UserSnapshot
}

// UserChanged drops a user from the cache, for an adapter that relays
// changes made by other instances.
func (s *Service) UserChanged(id int64) { s.users.invalidate(id) }

func (s *Service) userChanged(ctx context.Context, id int64) {
	s.users.invalidate(id)
	if s.bcast != nil {
		if err := s.bcast.PublishUserChanged(ctx, id); err != nil {
			s.log.WarnContext(ctx, "user change broadcast failed", "user_id", id, "err", err)
		}
	}
}

// NewUser is what it takes to create an account.
type NewUser struct {
	Username    string
	Password    string
	Email       string
	FullName    string
	Role        gatehouse.Role // default user
	Permissions []string
	Disabled    bool
}

// checkPassword applies the password policy to a password about to be set.
func (s *Service) checkPassword(username, pw string) error {
	if err := s.cfg.Policy.Check(username, pw); err != nil {
		var pe *password.PolicyError
		if errors.As(err, &pe) {
			return gatehouse.Invalid([]string{"body", "password"}, pe.Msg, "value_error.password."+pe.Reason)
		}
		return gatehouse.Invalid([]string{"body", "password"}, "Password not acceptable", "value_error.password")
	}
	return nil
}

// validateEmail accepts "" (no email) or one plain address.
func validateEmail(email string) error {
	if email == "" {
		return nil
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > 254 {
		return gatehouse.Invalid([]string{"body", "email"}, "Invalid email address", "value_error.email")
	}
	return nil
}

// validatePermissions refuses permissions that do not exist.
func validatePermissions(perms []string) error {
	for _, p := range perms {
		if !slices.Contains(rbac.KnownPermissions, p) {
			return gatehouse.Invalid([]string{"body", "permissions"}, fmt.Sprintf("Unknown permission %q", p), "value_error.permission")
		}
	}
	return nil
}

// validateRole refuses roles that do not exist.
func validateRole(r gatehouse.Role) error {
	if !r.Valid() {
		return gatehouse.Invalid([]string{"body", "role"}, "Role must be one of user, moderator, admin", "value_error.role")
	}
	return nil
}

// CreateUser validates n, hashes its password on the pool and stores the
// account. ECONFLICT when the name is taken (after normalisation).
func (s *Service) CreateUser(ctx context.Context, n NewUser) (*gatehouse.User, error) {
	name, err := gatehouse.ValidateUsername(n.Username)
	if err != nil {
		return nil, err
	}
	if n.Role == "" {
		n.Role = gatehouse.RoleUser
	}
	if err := errors.Join(validateRole(n.Role), validateEmail(n.Email), validatePermissions(n.Permissions)); err != nil {
		return nil, firstError(err)
	}
	if err := s.checkPassword(name, n.Password); err != nil {
		return nil, err
	}
	h, err := s.hashPassword(ctx, n.Password)
	if err != nil {
		return nil, err
	}
	u := &gatehouse.User{Username: name, Email: n.Email, FullName: n.FullName, PasswordHash: h,
		Role: n.Role, Permissions: canonicalPermissions(n.Permissions), Disabled: n.Disabled}
	if err := s.cfg.Store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	s.auditUser(ctx, gatehouse.EventUserCreated, u.ID, "role "+string(u.Role))
	return u, nil
}

// auditUser records a change to a user or to something of theirs (id 0:
// owner unknown), naming who made it when a principal is in ctx (the CLI
// has none).
func (s *Service) auditUser(ctx context.Context, typ string, id int64, detail string) {
	if p, ok := gatehouse.PrincipalFrom(ctx); ok {
		detail = strings.TrimSpace(detail + fmt.Sprintf(" by user %d", p.User.ID))
	}
	s.audit.Record(ctx, gatehouse.AuditEvent{Type: typ, Outcome: gatehouse.OutcomeSuccess, UserID: id, Detail: detail})
}

// firstError unwraps a joined error to its first part, so one 422 names
// one field.
func firstError(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
		return j.Unwrap()[0]
	}
	return err
}

func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	var h string
	var herr error
	if err := s.hash(ctx, func() { h, herr = s.cfg.Hasher.Hash(pw) }); err != nil {
		return "", err
	}
	if herr != nil {
		return "", fmt.Errorf("auth: hash password: %w", herr)
	}
	return h, nil
}

// UserUpdate is a change to an account, as the admin API's PATCH
// /users/{id} and the CLI's user commands make it. Nil fields stay as they
// are.
type UserUpdate struct {
	Role        *gatehouse.Role
	Permissions *[]string // the user's extra permissions, replacing them
	Disabled    *bool
	Email       *string
	FullName    *string
	Password    *string
	// TOTPEnabled may only be false: an admin's reset of the user's
	// two-factor authentication, which users turn on themselves.
	TOTPEnabled *bool
	// TOTPCode is a current code or an unused recovery code of the user.
	// Turning one's own 2FA off needs it (contract §12), through this call
	// as through DisableTwoFactor: otherwise a stolen admin token or key
	// could switch its owner's second factor off and enrol another.
	TOTPCode string
}

// Validate checks, in this order, the fields that need nothing but
// themselves — role, permissions, email, the 2FA reset — and returns the
// first problem as a 422 (gatehouse.Invalid). A password is checked by
// Service.UpdateUser, against the policy and the username.
func (u UserUpdate) Validate() error {
	if u.Role != nil {
		if err := validateRole(*u.Role); err != nil {
			return err
		}
	}
	if u.Permissions != nil {
		if err := validatePermissions(*u.Permissions); err != nil {
			return err
		}
	}
	if u.Email != nil {
		if err := validateEmail(*u.Email); err != nil {
			return err
		}
	}
	if u.TOTPEnabled != nil && *u.TOTPEnabled {
		return gatehouse.Invalid([]string{"body", "totp_enabled"},
			"Only false is accepted (an admin's reset); users enable 2FA themselves", "value_error")
	}
	return nil
}

// editsUser reports whether u changes the account itself: anything but a
// 2FA reset.
func (u UserUpdate) editsUser() bool {
	return u.Role != nil || u.Permissions != nil || u.Disabled != nil || u.Email != nil || u.FullName != nil || u.Password != nil
}

// apply makes the change on cur, with hash the new password's hash, and
// reports whether it reset two-factor authentication.
func (u UserUpdate) apply(cur *gatehouse.User, hash string) (reset bool) {
	if u.Role != nil {
		cur.Role = *u.Role
	}
	if u.Permissions != nil {
		cur.Permissions = canonicalPermissions(*u.Permissions)
	}
	if u.Disabled != nil {
		cur.Disabled = *u.Disabled
	}
	if u.Email != nil {
		cur.Email = *u.Email
	}
	if u.FullName != nil {
		cur.FullName = *u.FullName
	}
	if u.Password != nil {
		cur.PasswordHash = hash
	}
	if u.TOTPEnabled != nil && cur.TOTPEnabled {
		cur.TOTPEnabled = false // the store removes the two-factor state with it
		return true
	}
	return false
}

// canonicalPermissions sorts perms and drops repeats, so a user's stored
// list reads the same however it was given.
func canonicalPermissions(perms []string) []string {
	if perms == nil {
		return nil
	}
	return slices.Compact(slices.Sorted(slices.Values(perms)))
}

// UpdateUser changes the account id as upd says, in one store transaction,
// and makes the change effective at once: the user's cache entry is
// dropped here and, with a Broadcaster, on every instance.
//
// A missing user is ENOTFOUND, before anything else; then upd is
// validated and a new password checked against the policy and hashed, all
// before the transaction. A new password ends every login session of the
// user in that transaction (OWASP ASVS 3.3.3): whoever knew the old one
// must not stay logged in with it, whether the user or an admin set it.
// TOTPEnabled false resets two-factor authentication if it is on, and is
// nothing to do otherwise; on one's own account it needs TOTPCode
// (checkOwnReset). The last enabled admin can be neither demoted
// nor disabled (gatehouse.ErrLastAdmin). It returns the user as stored.
func (s *Service) UpdateUser(ctx context.Context, id int64, upd UserUpdate) (*gatehouse.User, error) {
	return s.updateUser(ctx, id, upd, "")
}

// SetPassword sets the password of user id as UpdateUser does — checked
// against the policy, hashed, and stored in the one transaction that ends
// every login session of the user — except that the session keepSession
// stays open: the one users change their own password from, while signed
// in (contract §12). "" keeps none, as an admin's change keeps none.
// Logins and mfa_tokens that checked the old password open no session
// after the change (gatehouse.Session.Credential).
func (s *Service) SetPassword(ctx context.Context, id int64, pw, keepSession string) (*gatehouse.User, error) {
	return s.updateUser(ctx, id, UserUpdate{Password: &pw}, keepSession)
}

func (s *Service) updateUser(ctx context.Context, id int64, upd UserUpdate, keepSession string) (*gatehouse.User, error) {
	u, err := s.cfg.Store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := upd.Validate(); err != nil {
		return nil, err
	}
	if !upd.editsUser() && (upd.TOTPEnabled == nil || !u.TOTPEnabled) {
		return u, nil
	}
	self := false
	if upd.TOTPEnabled != nil && u.TOTPEnabled {
		if self, err = s.checkOwnReset(ctx, id, upd.TOTPCode); err != nil {
			return nil, err
		}
	}
	edit := gatehouse.UserEdit{}
	var hash string
	if upd.Password != nil {
		if err := s.checkPassword(u.Username, *upd.Password); err != nil {
			return nil, err
		}
		if hash, err = s.hashPassword(ctx, *upd.Password); err != nil {
			return nil, err
		}
		now := s.now()
		// A session's revocation must outlive its access tokens and a
		// browser session's cookie.
		edit.EndSessions = &gatehouse.SessionEnd{At: now, Until: s.sessionRevocationEnd(now), Except: keepSession}
	}
	var reset bool
	edit.Apply = func(cur *gatehouse.User) error { reset = upd.apply(cur, hash); return nil }
	u, ended, err := s.cfg.Store.UpdateUser(ctx, id, edit)
	if err != nil {
		return nil, err
	}
	s.revoked(ctx, ended)
	s.userChanged(ctx, id)
	if upd.Password != nil {
		// Whoever guessed codes with the old password can submit none
		// now; their lockout must not keep the owner out.
		if err := s.codes.Reset(ctx, id); err != nil {
			s.log.WarnContext(ctx, "2FA limiter reset failed", "user_id", id, "err", err)
		}
	}
	if upd.editsUser() {
		s.auditUser(ctx, gatehouse.EventUserChanged, id, fmt.Sprintf("role %s, disabled %v", u.Role, u.Disabled))
	}
	if reset {
		detail := "reset by an admin"
		if self {
			detail = "turned off with a code"
		}
		s.auditUser(ctx, gatehouse.EventTwoFactorDisabled, id, detail)
	}
	return u, nil
}

var errOwnResetNeedsToken = gatehouse.Errorf(gatehouse.EFORBIDDEN, "2FA requires a login token, not an API key")

// checkOwnReset applies contract §12 to a 2FA reset of user id: when the
// principal in ctx is that user, it needs a login token (API keys never
// change a second factor) and code, a current code or an unused recovery
// code, checked under the user's limit on wrong codes as DisableTwoFactor
// checks it. It reports whether the reset is the user's own. An admin
// resetting another user, or the CLI (no principal), needs no code.
func (s *Service) checkOwnReset(ctx context.Context, id int64, code string) (self bool, err error) {
	p, ok := gatehouse.PrincipalFrom(ctx)
	if !ok || p.User == nil || p.User.ID != id {
		return false, nil
	}
	if p.APIKeyID != 0 {
		return true, errOwnResetNeedsToken
	}
	if strings.TrimSpace(code) == "" {
		return true, gatehouse.Invalid([]string{"body", "totp_code"},
			"Turning off your own 2FA needs a current 2FA code or a recovery code", "value_error.missing")
	}
	st, err := s.enabledState(ctx, id)
	if err != nil {
		return true, err
	}
	return true, s.requireCode(ctx, id, st, code, "disable", errInvalidCode)
}

// DeleteUser deletes the account; its tokens stop working at once.
func (s *Service) DeleteUser(ctx context.Context, id int64) error {
	if err := s.cfg.Store.DeleteUser(ctx, id); err != nil {
		return err
	}
	s.userChanged(ctx, id)
	s.auditUser(ctx, gatehouse.EventUserDeleted, id, "")
	return nil
}

// EnsureAdmin creates the first admin when the store has no user at all
// (contract §1). With no password given it generates one and returns it,
// to be shown once.
func (s *Service) EnsureAdmin(ctx context.Context, username, pw string) (created *gatehouse.User, generated string, err error) {
	n, err := s.cfg.Store.CountUsers(ctx)
	if err != nil || n > 0 {
		return nil, "", err
	}
	if pw == "" {
		generated = GeneratePassword()
		pw = generated
	}
	u, err := s.CreateUser(ctx, NewUser{Username: username, Password: pw, Role: gatehouse.RoleAdmin})
	if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT { // another instance won the race
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("auth: create first admin: %w", err)
	}
	return u, generated, nil
}

// GeneratePassword returns a random 24-character password (24 × log2(57) ≈ 140 bits).
func GeneratePassword() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	b := make([]byte, 24)
	for i := range b {
		var r [1]byte
		for {
			rand.Read(r[:])
			if int(r[0]) < 256-256%len(alphabet) { // reject to avoid modulo bias
				break
			}
		}
		b[i] = alphabet[int(r[0])%len(alphabet)]
	}
	return string(b)
}

// User returns a user by id (from the store, not the cache).
func (s *Service) User(ctx context.Context, id int64) (*gatehouse.User, error) {
	return s.cfg.Store.UserByID(ctx, id)
}

// liveUser returns the user with that id from the cache, or the caller's
// own refusal: gone when the user was deleted, disabled when it is
// disabled.
func (s *Service) liveUser(ctx context.Context, id int64, gone, disabled error) (*cachedUser, error) {
	u, err := s.users.get(ctx, id)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, gone
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, disabled
	}
	return u, nil
}
