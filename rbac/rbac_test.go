package rbac

import (
	"testing"

	"github.com/gatehouse/gatehouse"
)

func TestRolesAreOrdered(t *testing.T) {
	tests := []struct {
		have, min gatehouse.Role
		want      bool
	}{
		{gatehouse.RoleAdmin, gatehouse.RoleModerator, true}, // the guide's exact match got this wrong
		{gatehouse.RoleAdmin, gatehouse.RoleUser, true},
		{gatehouse.RoleModerator, gatehouse.RoleModerator, true},
		{gatehouse.RoleModerator, gatehouse.RoleAdmin, false},
		{gatehouse.RoleUser, gatehouse.RoleModerator, false},
		{gatehouse.Role("root"), gatehouse.RoleUser, false},
		{gatehouse.Role(""), gatehouse.Role(""), false},
	}
	for _, tt := range tests {
		if got := tt.have.AtLeast(tt.min); got != tt.want {
			t.Errorf("%q.AtLeast(%q) = %v, want %v", tt.have, tt.min, got, tt.want)
		}
	}
}

func TestGrantGivesOnlyWhatTheRoleAllows(t *testing.T) {
	tests := []struct {
		name      string
		role      gatehouse.Role
		requested string
		want      string
	}{
		{"user asking for nothing gets the user scopes", gatehouse.RoleUser, "", "read:items write:items"},
		{"admin asking for nothing gets all", gatehouse.RoleAdmin, "", "read:items write:items admin"},
		{"user asking for admin does not get it", gatehouse.RoleUser, "admin read:items", "read:items"},
		{"moderator asking for admin does not get it", gatehouse.RoleModerator, "admin", ""},
		{"unknown scopes are dropped", gatehouse.RoleAdmin, "root read:items", "read:items"},
		{"admin asking for admin gets it", gatehouse.RoleAdmin, "admin", "admin"},
		{"extra spaces are ignored", gatehouse.RoleUser, "  write:items   ", "write:items"},
		{"read:revocations only when asked for", gatehouse.RoleAdmin, "read:revocations", "read:revocations"},
		{"read:revocations with the rest", gatehouse.RoleAdmin, "admin read:revocations read:items", "read:items admin read:revocations"},
		{"read:revocations is for admins alone", gatehouse.RoleModerator, "read:revocations read:items", "read:items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Grant(tt.role, tt.requested); got != tt.want {
				t.Errorf("Grant(%q, %q) = %q, want %q", tt.role, tt.requested, got, tt.want)
			}
		})
	}
}

func TestRestrictDropsScopesAfterDemotion(t *testing.T) {
	if got := Restrict(gatehouse.RoleUser, "read:items admin"); got != "read:items" {
		t.Errorf("Restrict = %q, want read:items", got)
	}
	if got := Restrict(gatehouse.RoleAdmin, "read:items admin"); got != "read:items admin" {
		t.Errorf("Restrict for admin = %q", got)
	}
}

func TestPermissions(t *testing.T) {
	admin := &gatehouse.User{Role: gatehouse.RoleAdmin}
	mod := &gatehouse.User{Role: gatehouse.RoleModerator, Permissions: []string{gatehouse.PermReadUsers}}
	if !HasPermission(admin, gatehouse.PermDeleteUsers) {
		t.Error("admin lacks delete:users")
	}
	if HasPermission(mod, gatehouse.PermDeleteUsers) {
		t.Error("moderator has delete:users")
	}
	if !HasPermission(mod, gatehouse.PermReadUsers) {
		t.Error("extra permission not honoured")
	}
	if got := EffectivePermissions(&gatehouse.User{Role: gatehouse.RoleAdmin, Permissions: []string{gatehouse.PermReadUsers}}); len(got) != 3 {
		t.Errorf("EffectivePermissions = %v, want 3 unique", got)
	}
}

func TestAllowsAllDoesNotAllocate(t *testing.T) {
	n := testing.AllocsPerRun(100, func() { AllowsAll(gatehouse.RoleUser, "read:items write:items") })
	if n != 0 {
		t.Errorf("AllowsAll allocates %v times", n)
	}
}

func TestAllowedScopesIncludeThoseGrantedOnlyOnRequest(t *testing.T) {
	for role, want := range map[gatehouse.Role]string{
		gatehouse.RoleUser:      "read:items write:items",
		gatehouse.RoleModerator: "read:items write:items",
		gatehouse.RoleAdmin:     "read:items write:items admin read:revocations",
		gatehouse.Role("root"):  "",
	} {
		if got := AllowedScopes(role); got != want {
			t.Errorf("AllowedScopes(%q) = %q, want %q", role, got, want)
		}
	}
}
