// Package rbac maps roles to the permissions they hold and the OAuth2 scopes
// a token of theirs may carry (contract §4). Roles are ordered, admin ⊇
// moderator ⊇ user, so a check asks for a minimum role, never an exact one.
// Everything here is a pure function over its arguments.
package rbac

import (
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// KnownScopes are every scope a token may carry, in the order they are listed.
var KnownScopes = []string{gatehouse.ScopeReadItems, gatehouse.ScopeWriteItems, gatehouse.ScopeAdmin, gatehouse.ScopeReadRevocations}

// explicitOnly are the scopes granted only when asked for by name, never
// as part of "everything the role allows": read:revocations is for the
// API key of a resource server, so an admin's everyday token or key does
// not carry it (and the admin's default scope list stays what contract §4
// says).
func explicitOnly(scope string) bool { return scope == gatehouse.ScopeReadRevocations }

// KnownPermissions are the permissions that can be granted.
var KnownPermissions = []string{gatehouse.PermReadUsers, gatehouse.PermWriteUsers, gatehouse.PermDeleteUsers}

// RolePermissions returns the permissions role holds by default.
func RolePermissions(role gatehouse.Role) []string {
	if role == gatehouse.RoleAdmin {
		return []string{gatehouse.PermReadUsers, gatehouse.PermWriteUsers, gatehouse.PermDeleteUsers}
	}
	return nil
}

// HasPermission reports whether u holds perm through its role or its own
// extra permissions.
func HasPermission(u *gatehouse.User, perm string) bool {
	return slices.Contains(RolePermissions(u.Role), perm) || slices.Contains(u.Permissions, perm)
}

// EffectivePermissions returns the role's permissions and u's extras, without
// duplicates, sorted.
func EffectivePermissions(u *gatehouse.User) []string {
	out := append(RolePermissions(u.Role), u.Permissions...)
	slices.Sort(out)
	return slices.Compact(out)
}

// AllowsScope reports whether a token of a user with role may carry scope.
func AllowsScope(role gatehouse.Role, scope string) bool {
	switch scope {
	case gatehouse.ScopeReadItems, gatehouse.ScopeWriteItems:
		return role.Valid()
	case gatehouse.ScopeAdmin, gatehouse.ScopeReadRevocations:
		return role == gatehouse.RoleAdmin
	}
	return false
}

// AllowsAll reports whether every scope in the space-separated list is one
// role may hold. It does not allocate: it runs on every request.
func AllowsAll(role gatehouse.Role, list string) bool {
	for list != "" {
		var s string
		s, list, _ = strings.Cut(list, " ")
		if s != "" && !AllowsScope(role, s) {
			return false
		}
	}
	return true
}

// Grant returns the scopes to grant a user with role who asked for the
// space-separated requested list: the requested ones the role allows, or all
// the role allows when none were requested (but for those granted only when
// asked for by name, read:revocations). Unknown or disallowed scopes are
// dropped, never granted (RFC 6749 §3.3 lets the server grant less).
func Grant(role gatehouse.Role, requested string) string {
	var out []string
	fields := strings.Fields(requested)
	for _, s := range KnownScopes {
		if !AllowsScope(role, s) {
			continue
		}
		if len(fields) == 0 && !explicitOnly(s) || slices.Contains(fields, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// Restrict returns the scopes of list that role still allows: a token keeps
// only what its user may hold now, so a demotion takes effect at once.
func Restrict(role gatehouse.Role, list string) string {
	if AllowsAll(role, list) {
		return list
	}
	var out []string
	for _, s := range strings.Fields(list) {
		if AllowsScope(role, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// AllowedScopes returns every scope a token or key of role may carry,
// those granted only on request included: the most a user may hold, as
// the CLI acts for a user and as a resource server caps the scopes of a
// demoted user's tokens.
func AllowedScopes(role gatehouse.Role) string {
	var out []string
	for _, s := range KnownScopes {
		if AllowsScope(role, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}
