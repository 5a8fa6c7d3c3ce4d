package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/guard"
)

// TestVerifyRefusalsSayWhyInACode: beside the detail a human reads, every
// refusal of /auth/verify carries a reason a client can decide on (what
// guard.Remote reads), whatever the detail's wording.
func TestVerifyRefusalsSayWhyInACode(t *testing.T) {
	e := newEnv(t)
	e.createUser("bob", pw, gatehouse.RoleUser)
	carol := e.createUser("carol", pw, gatehouse.RoleModerator)
	read := cred{bearer: e.token("bob", "read:items")}
	mod := cred{bearer: e.token("carol", "")}
	key, keyID := e.newKey(e.token("bob", ""), nil)
	revoked := cred{bearer: e.token("bob", "")}
	wantStatus(t, e.post("/logout", revoked.bearer), 200)

	for _, tt := range []struct {
		name, query string
		c           cred
		status      int
		detail      string
		reason      string
	}{
		{"no credential", "", cred{}, 401, "Not authenticated", guard.RefusedUnauthenticated},
		{"a forged token", "", cred{bearer: read.bearer[:len(read.bearer)-2] + "AA"}, 401, "Could not validate credentials", guard.RefusedInvalidToken},
		{"a revoked token", "", revoked, 401, "Token has been revoked", guard.RefusedInvalidToken},
		{"an unknown API key", "", cred{key: key[:len(key)-2] + "xx"}, 403, "Invalid API key", guard.RefusedInvalidAPIKey},
		{"a missing scope", "scope=write:items", read, 403, "Not enough permissions", guard.RefusedInsufficientScope},
		{"a role below the one asked for", "role=moderator", read, 403, "Access denied. Required role: moderator", guard.RefusedForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.verify("GET", tt.query, tt.c)
			wantDetail(t, r, tt.status, tt.detail)
			if got := r.str("error"); got != tt.reason {
				t.Fatalf("error %q, want %q: %s", got, tt.reason, r.raw)
			}
		})
	}

	e.setUser(carol.ID, auth.UserUpdate{Disabled: new(true)})
	r := e.verify("GET", "", mod)
	wantDetail(t, r, 403, "Inactive user")
	if got := r.str("error"); got != guard.RefusedInactiveUser {
		t.Fatalf("a disabled user: error %q, want %q", got, guard.RefusedInactiveUser)
	}
	wantStatus(t, e.call("DELETE", fmt.Sprint("/api-keys/", keyID), read, nil), 200)
	if r := e.verify("GET", "", cred{key: key}); r.status != 403 || r.str("error") != guard.RefusedInvalidAPIKey {
		t.Fatalf("a revoked key: %d %s", r.status, r.raw)
	}
	// Only /auth/verify adds the reason; other routes answer as before.
	if r := e.get("/users/me", read.bearer[:len(read.bearer)-2]+"AA"); r.status != 401 || r.body["error"] != nil {
		t.Fatalf("/users/me with a forged token: %d %s", r.status, r.raw)
	}
}
