package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// writeLog is a store that logs the calls that write users, sessions,
// revocations or two-factor state.
type writeLog struct {
	gatehouse.Store
	mu    sync.Mutex
	calls []string
}

func (s *writeLog) log(call string) {
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
}

func (s *writeLog) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *writeLog) UpdateUser(ctx context.Context, id int64, e gatehouse.UserEdit) (*gatehouse.User, []gatehouse.Revocation, error) {
	s.log("UpdateUser")
	return s.Store.UpdateUser(ctx, id, e)
}

func (s *writeLog) RevokeSession(ctx context.Context, sid string, now time.Time, revs ...gatehouse.Revocation) error {
	s.log("RevokeSession")
	return s.Store.RevokeSession(ctx, sid, now, revs...)
}

func (s *writeLog) AddRevocations(ctx context.Context, revs ...gatehouse.Revocation) error {
	s.log("AddRevocations")
	return s.Store.AddRevocations(ctx, revs...)
}

func (s *writeLog) DisableTOTP(ctx context.Context, id int64) error {
	s.log("DisableTOTP")
	return s.Store.DisableTOTP(ctx, id)
}

// auditLog keeps the events recorded.
type auditLog struct {
	mu     sync.Mutex
	events []gatehouse.AuditEvent
}

func (a *auditLog) Record(_ context.Context, e gatehouse.AuditEvent) {
	a.mu.Lock()
	a.events = append(a.events, e)
	a.mu.Unlock()
}

// take returns "type detail" of each event of user id since the last take.
func (a *auditLog) take(id int64) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.events {
		if e.UserID == id {
			out = append(out, e.Type+" "+e.Detail)
		}
	}
	a.events = nil
	return out
}

func newUsersService(t *testing.T) (*Service, *writeLog, *auditLog) {
	t.Helper()
	inner := newTestService(t, Config{}).cfg.Store
	store, audit := &writeLog{Store: inner}, &auditLog{}
	return newTestService(t, Config{Store: store, Auditor: audit}), store, audit
}

func TestUserUpdateValidateSaysWhatIsWrong(t *testing.T) {
	tests := []struct {
		name          string
		upd           UserUpdate
		loc, msg, typ string
	}{
		{"unknown role", UserUpdate{Role: new(gatehouse.Role("root"))},
			"body.role", "Role must be one of user, moderator, admin", "value_error.role"},
		{"unknown permission", UserUpdate{Permissions: &[]string{gatehouse.PermReadUsers, "fly"}},
			"body.permissions", `Unknown permission "fly"`, "value_error.permission"},
		{"bad email", UserUpdate{Email: new("alice at example.com")},
			"body.email", "Invalid email address", "value_error.email"},
		{"2FA switched on", UserUpdate{TOTPEnabled: new(true)},
			"body.totp_enabled", "Only false is accepted (an admin's reset); users enable 2FA themselves", "value_error"},
		{"the role is checked first", UserUpdate{Email: new("x"), Role: new(gatehouse.Role("")), TOTPEnabled: new(true)},
			"body.role", "Role must be one of user, moderator, admin", "value_error.role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *gatehouse.Error
			err := tt.upd.Validate()
			if !errors.As(err, &e) || e.Code != gatehouse.EINVALID || len(e.Fields) != 1 {
				t.Fatalf("Validate() = %v, want one 422 field error", err)
			}
			f := e.Fields[0]
			if got := strings.Join(f.Loc, "."); got != tt.loc || f.Msg != tt.msg || f.Type != tt.typ {
				t.Fatalf("Validate() = %s %q %s, want %s %q %s", got, f.Msg, f.Type, tt.loc, tt.msg, tt.typ)
			}
		})
	}
	ok := UserUpdate{Role: new(gatehouse.RoleAdmin), Permissions: &[]string{}, Disabled: new(true), Email: new(""),
		FullName: new("Alice"), Password: new("x"), TOTPEnabled: new(false)}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a valid update: %v", err)
	}
}

// TestUpdateUserIsOneWrite: the admin API's biggest PATCH — role, email,
// password and a 2FA reset — is one store call, and everything it implies
// holds when it returns: the old sessions' tokens are refused, the old
// password and the second factor are gone.
func TestUpdateUserIsOneWrite(t *testing.T) {
	ctx := context.Background()
	s, store, audit := newUsersService(t)
	if _, err := s.CreateUser(ctx, NewUser{Username: "root", Password: "correct horse battery", Role: gatehouse.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, NewUser{Username: "alice", Password: "correct horse battery", Role: gatehouse.RoleModerator})
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for range 2 {
		pair, err := s.Login(ctx, "alice", "correct horse battery", "")
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, pair.AccessToken)
	}
	if err := store.SetPendingTOTP(ctx, u.ID, "sealed"); err != nil {
		t.Fatal(err)
	}
	if err := store.EnableTOTP(ctx, u.ID, "sealed", 1, []string{"code hash"}); err != nil {
		t.Fatal(err)
	}
	store.take()
	audit.take(u.ID)

	got, err := s.UpdateUser(ctx, u.ID, UserUpdate{Role: new(gatehouse.RoleUser), Email: new("a@example.com"),
		Password: new("a brand new passphrase"), TOTPEnabled: new(false), Permissions: &[]string{gatehouse.PermReadUsers, gatehouse.PermReadUsers}})
	if err != nil {
		t.Fatal(err)
	}
	if calls := store.take(); !slices.Equal(calls, []string{"UpdateUser"}) {
		t.Fatalf("store writes %v, want one UpdateUser", calls)
	}
	if got.Role != gatehouse.RoleUser || got.Email != "a@example.com" || got.TOTPEnabled || !slices.Equal(got.Permissions, []string{gatehouse.PermReadUsers}) {
		t.Fatalf("returned %+v", got)
	}
	for i, at := range tokens {
		if _, err := s.Authenticate(ctx, at); gatehouse.ErrorMessage(err) != "Token has been revoked" {
			t.Fatalf("token of session %d after the password change: %v, want revoked", i, err)
		}
	}
	if _, err := s.Login(ctx, "alice", "correct horse battery", ""); gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED {
		t.Fatalf("login with the old password: %v", err)
	}
	if _, err := s.Login(ctx, "alice", "a brand new passphrase", ""); err != nil { // no second factor asked for
		t.Fatalf("login with the new password after the 2FA reset: %v", err)
	}
	if _, err := store.TOTP(ctx, u.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("two-factor state after the reset: %v", err)
	}
	want := []string{"user_changed role user, disabled false", "2fa_disabled reset by an admin"}
	if events := audit.take(u.ID); !slices.Equal(events[:min(2, len(events))], want) {
		t.Fatalf("audit %q, want first %q", events, want)
	}
}

func TestUpdateUserRefusedChangesNothing(t *testing.T) {
	ctx := context.Background()
	s, store, audit := newUsersService(t)
	root, err := s.CreateUser(ctx, NewUser{Username: "root", Password: "correct horse battery", Role: gatehouse.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := s.Login(ctx, "root", "correct horse battery", "")
	if err != nil {
		t.Fatal(err)
	}
	store.take()
	audit.take(root.ID)
	tests := []struct {
		name  string
		id    int64
		upd   UserUpdate
		code  string
		write bool // refused by the store, in its transaction
	}{
		{"unknown user, before validation", root.ID + 100, UserUpdate{Role: new(gatehouse.Role("bogus"))}, gatehouse.ENOTFOUND, false},
		{"invalid field", root.ID, UserUpdate{Email: new("bad"), Password: new("a brand new passphrase")}, gatehouse.EINVALID, false},
		{"password against the policy", root.ID, UserUpdate{Password: new("root")}, gatehouse.EINVALID, false},
		{"the last admin disabled", root.ID, UserUpdate{Disabled: new(true), Password: new("a brand new passphrase")}, gatehouse.EFORBIDDEN, true},
		{"the last admin demoted", root.ID, UserUpdate{Role: new(gatehouse.RoleUser)}, gatehouse.EFORBIDDEN, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.UpdateUser(ctx, tt.id, tt.upd); gatehouse.ErrorCode(err) != tt.code {
				t.Fatalf("UpdateUser: %v, want %s", err, tt.code)
			}
			if calls := store.take(); len(calls) > 0 != tt.write {
				t.Fatalf("store writes %v", calls)
			}
			if _, err := s.Authenticate(ctx, pair.AccessToken); err != nil {
				t.Fatalf("root's token after a refused update: %v", err)
			}
			if _, err := s.Login(ctx, "root", "correct horse battery", ""); err != nil {
				t.Fatalf("root's password after a refused update: %v", err)
			}
			if events := audit.take(root.ID); slices.ContainsFunc(events, func(e string) bool { return !strings.HasPrefix(e, "login") }) {
				t.Fatalf("a refused update was audited: %q", events)
			}
		})
	}
}

func TestUpdateUserWithNothingToDoWritesNothing(t *testing.T) {
	ctx := context.Background()
	s, store, audit := newUsersService(t)
	u, err := s.CreateUser(ctx, NewUser{Username: "alice", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	store.take()
	audit.take(u.ID)
	for _, upd := range []UserUpdate{{}, {TOTPEnabled: new(false)}} { // 2FA is off: no reset to make
		got, err := s.UpdateUser(ctx, u.ID, upd)
		if err != nil || got.ID != u.ID {
			t.Fatalf("UpdateUser(%+v) = %+v, %v", upd, got, err)
		}
		if calls, events := store.take(), audit.take(u.ID); len(calls)+len(events) > 0 {
			t.Fatalf("UpdateUser(%+v) wrote %v and audited %q", upd, calls, events)
		}
	}
}
