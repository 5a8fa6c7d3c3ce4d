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
func newUserCache(store gatehouse.UserStore, max int) *cache[int64, *gatehouse.User] {
	return newCache(max, store.UserByID, func(u *gatehouse.User) int64 { return u.ID }, errNoUser)
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

// CheckPassword applies the password policy to a password about to be set.
func (s *Service) CheckPassword(username, pw string) error {
	if err := s.cfg.Policy.Check(username, pw); err != nil {
		var pe *password.PolicyError
		if errors.As(err, &pe) {
			return gatehouse.Invalid([]string{"body", "password"}, pe.Msg, "value_error.password."+pe.Reason)
		}
		return gatehouse.Invalid([]string{"body", "password"}, "Password not acceptable", "value_error.password")
	}
	return nil
}

// ValidateEmail accepts "" (no email) or one plain address.
func ValidateEmail(email string) error {
	if email == "" {
		return nil
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > 254 {
		return gatehouse.Invalid([]string{"body", "email"}, "Invalid email address", "value_error.email")
	}
	return nil
}

// ValidatePermissions refuses permissions that do not exist.
func ValidatePermissions(perms []string) error {
	for _, p := range perms {
		if !slices.Contains(rbac.KnownPermissions, p) {
			return gatehouse.Invalid([]string{"body", "permissions"}, fmt.Sprintf("Unknown permission %q", p), "value_error.permission")
		}
	}
	return nil
}

// ValidateRole refuses roles that do not exist.
func ValidateRole(r gatehouse.Role) error {
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
	if err := errors.Join(ValidateRole(n.Role), ValidateEmail(n.Email), ValidatePermissions(n.Permissions)); err != nil {
		return nil, firstError(err)
	}
	if err := s.CheckPassword(name, n.Password); err != nil {
		return nil, err
	}
	h, err := s.hashPassword(ctx, n.Password)
	if err != nil {
		return nil, err
	}
	u := &gatehouse.User{Username: name, Email: n.Email, FullName: n.FullName, PasswordHash: h,
		Role: n.Role, Permissions: n.Permissions, Disabled: n.Disabled}
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

// UpdateUser applies fn to the stored user in one transaction and makes the
// change effective at once: the user's cache entry is dropped here and, with
// a Broadcaster, on every instance.
func (s *Service) UpdateUser(ctx context.Context, id int64, fn func(*gatehouse.User) error) (*gatehouse.User, error) {
	u, _, err := s.cfg.Store.UpdateUser(ctx, id, gatehouse.UserEdit{Apply: fn})
	if err != nil {
		return nil, err
	}
	s.userChanged(ctx, id)
	s.auditUser(ctx, gatehouse.EventUserChanged, id, fmt.Sprintf("role %s, disabled %v", u.Role, u.Disabled))
	return u, nil
}

// SetPassword checks the policy, hashes pw and stores it, then ends every
// login session of the user (OWASP ASVS 3.3.3): whoever knew the old
// password must not stay logged in with it. An admin setting a password
// ends the sessions too; the user logs in again with the new one.
func (s *Service) SetPassword(ctx context.Context, id int64, pw string) error {
	u, err := s.cfg.Store.UserByID(ctx, id)
	if err != nil {
		return err
	}
	if err := s.CheckPassword(u.Username, pw); err != nil {
		return err
	}
	h, err := s.hashPassword(ctx, pw)
	if err != nil {
		return err
	}
	_, err = s.UpdateUser(ctx, id, func(u *gatehouse.User) error { u.PasswordHash = h; return nil })
	if err != nil {
		return err
	}
	sids, err := s.cfg.Store.LiveSessions(ctx, id)
	if err != nil {
		return fmt.Errorf("auth: end sessions after password change: %w", err)
	}
	now := s.now()
	for _, sid := range sids {
		if err := s.revokeSession(ctx, sid, now); err != nil {
			return fmt.Errorf("auth: end sessions after password change: %w", err)
		}
	}
	return nil
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
