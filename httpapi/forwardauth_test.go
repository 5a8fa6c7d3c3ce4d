package httpapi_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpapi"
)

// verify asks /auth/verify as a proxy would, with method and query.
func (e *env) verify(method, query string, c cred) response {
	e.t.Helper()
	path := "/auth/verify"
	if query != "" {
		path += "?" + query
	}
	return e.do(method, path, nil, c.header())
}

func TestVerifyTellsTheProxyWhoTheCredentialActsFor(t *testing.T) {
	e := newEnv(t)
	alice := e.createUser("alice", pw, gatehouse.RoleUser)
	e.createUser("root", pw, gatehouse.RoleAdmin)
	tok := cred{bearer: e.token("alice", "read:items")}
	key, keyID := e.newKey(e.token("alice", ""), "write:items")

	for _, tt := range []struct {
		name, method string
		c            cred
		scope, kind  string
	}{
		{"token, GET", "GET", tok, "read:items", "access_token"},
		{"token, POST, from a proxy that keeps the method", "POST", tok, "read:items", "access_token"},
		{"token, DELETE", "DELETE", tok, "read:items", "access_token"},
		{"API key", "GET", cred{key: key}, "write:items", "api_key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.verify(tt.method, "", tt.c)
			wantStatus(t, r, 200)
			h := r.header
			if h.Get(httpapi.HeaderAuthUser) != "alice" || h.Get(httpapi.HeaderAuthUserID) != fmt.Sprint(alice.ID) ||
				h.Get(httpapi.HeaderAuthRole) != "user" || h.Get(httpapi.HeaderAuthScope) != tt.scope {
				t.Fatalf("headers %v", h)
			}
			if r.str("username") != "alice" || r.str("credential") != tt.kind || r.str("scope") != tt.scope ||
				r.body["user_id"] != float64(alice.ID) || h.Get("Cache-Control") != "no-store" {
				t.Fatalf("answer %s (Cache-Control %q)", r.raw, h.Get("Cache-Control"))
			}
		})
	}
	wantStatus(t, e.do("HEAD", "/auth/verify/", nil, tok.header()), 200)
	if r := e.verify("GET", "", tok); r.str("expires_at") == "" {
		t.Errorf("a token's expiry is missing: %s", r.raw)
	}
	if r := e.verify("GET", "role=user", cred{bearer: e.token("root", "")}); fmt.Sprint(r.body["permissions"]) != "[delete:users read:users write:users]" {
		t.Errorf("an admin's permissions: %s", r.raw)
	}
	if r := e.verify("GET", "", tok); fmt.Sprint(r.body["permissions"]) != "[]" {
		t.Errorf("a user's permissions: %s", r.raw)
	}
	if r := e.verify("GET", "", cred{key: key}); r.body["expires_at"] != nil || r.body["api_key_id"] != float64(keyID) {
		t.Errorf("a key without expiry: %s", r.raw)
	}
	if r := e.verify("GET", "", tok); r.body["api_key_id"] != nil {
		t.Errorf("a token with an api_key_id: %s", r.raw)
	}
}

func TestVerifyRefusesWithOnlyTheStatusesProxiesUnderstand(t *testing.T) {
	e := newEnvWith(t, envOptions{recorder: true})
	e.createUser("root", pw, gatehouse.RoleAdmin)
	e.createUser("bob", pw, gatehouse.RoleUser)
	carol := e.createUser("carol", pw, gatehouse.RoleModerator)
	read := cred{bearer: e.token("bob", "read:items")}
	mod := cred{bearer: e.token("carol", "")}
	key, keyID := e.newKey(e.token("bob", ""), nil)
	refresh := e.login("bob", pw).str("refresh_token")

	t.Run("no credential", func(t *testing.T) {
		r := e.verify("GET", "", cred{})
		wantStatus(t, r, 401)
		if r.header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	})
	t.Run("a forged token", func(t *testing.T) {
		wantStatus(t, e.verify("GET", "", cred{bearer: read.bearer[:len(read.bearer)-2] + "AA"}), 401)
	})
	t.Run("a refresh token as an access token", func(t *testing.T) {
		wantStatus(t, e.verify("GET", "", cred{bearer: refresh}), 401)
	})
	t.Run("an unknown API key", func(t *testing.T) {
		wantDetail(t, e.verify("GET", "", cred{key: key[:len(key)-2] + "xx"}), 403, "Invalid API key")
	})
	t.Run("a missing scope", func(t *testing.T) {
		r := e.verify("GET", "scope=read:items+write:items", read)
		wantStatus(t, r, 403)
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `scope="read:items write:items"`) ||
			!strings.Contains(got, "insufficient_scope") {
			t.Fatalf("WWW-Authenticate %q", got)
		}
		wantStatus(t, e.verify("GET", "scope=read:items", read), 200)
	})
	t.Run("a role below the one asked for", func(t *testing.T) {
		wantDetail(t, e.verify("GET", "role=moderator", read), 403, "Access denied. Required role: moderator")
		wantStatus(t, e.verify("GET", "role=moderator", mod), 200)
		wantStatus(t, e.verify("GET", "role=admin", mod), 403)
	})
	t.Run("a bad query is a configuration error, not a pass", func(t *testing.T) {
		for _, q := range []string{"scope=read:itmes", "scope=read:items+nope", "role=root", "role=Admin",
			"scopes=admin", "Scope=admin", "roles=admin", "scope=read:items&x=1",
			"role=", "role=&role=admin", "role=user&role=admin"} {
			r := e.verify("GET", q, mod)
			field := q[strings.LastIndex(q, "&")+1 : strings.LastIndex(q, "=")]
			wantValidation(t, r, field)
		}
	})
	// Contract §12: a scope parameter that names nothing is a broken
	// configuration (an unset variable in a proxy's template), not a
	// request that requires nothing; like ?role=, it fails closed.
	t.Run("an empty or blank scope is 422, not a pass", func(t *testing.T) {
		for _, q := range []string{"scope=", "scope", "scope=%20", "scope=+", "scope=%09", "scope=+++",
			"scope=read:items&scope=", "scope=&scope=read:items"} {
			wantValidation(t, e.verify("GET", q, mod), "scope")
		}
		wantStatus(t, e.verify("GET", "", mod), 200) // no query: authentication alone
	})

	// State changes reach the proxy at once: a disabled user is 403 (not
	// the 400 of /users/me, which nginx would take for an error), a
	// revoked key 403, a logged-out token 401.
	e.setUser(carol.ID, auth.UserUpdate{Disabled: new(true)})
	wantDetail(t, e.verify("GET", "", mod), 403, "Inactive user")
	wantStatus(t, e.call("DELETE", fmt.Sprint("/api-keys/", keyID), read, nil), 200)
	wantDetail(t, e.verify("GET", "", cred{key: key}), 403, "Invalid API key")
	wantStatus(t, e.post("/logout", read.bearer), 200)
	r := e.verify("GET", "", read)
	wantDetail(t, r, 401, "Token has been revoked")
	if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, "invalid_token") {
		t.Errorf("WWW-Authenticate %q after a revoked token", got)
	}

	// Refusals are audited like any other route's.
	e.rec.Flush()
	audit := e.call("GET", "/audit?type="+url.QueryEscape(gatehouse.EventAPIKeyRefused), cred{bearer: e.token("root", "")}, nil)
	if n := len(audit.body["events"].([]any)); n < 2 {
		t.Errorf("%d api_key_refused events audited, want 2: %s", n, audit.raw)
	}
}
