package httpapi_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
)

func TestCreateAPIKeyShowsTheKeyOnce(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", pw, gatehouse.RoleUser)
	tok := cred{bearer: e.token("alice", "")}
	expires := e.clock.Now().Add(24 * time.Hour).UTC()
	r := e.call("POST", "/api-keys", tok, map[string]any{"name": "ci", "scopes": "read:items", "expires_at": expires.Format(time.RFC3339)})
	wantStatus(t, r, 201)
	key := r.str("key")
	if !regexp.MustCompile(`^ghk_[0-9A-Za-z]{16}_[0-9A-Za-z_-]{43}$`).MatchString(key) || !strings.HasPrefix(key, r.str("prefix")+"_") {
		t.Fatalf("key %q, prefix %q", key, r.str("prefix"))
	}
	if r.str("name") != "ci" || r.body["is_active"] != true || r.str("expires_at") != expires.Format(time.RFC3339) ||
		r.str("created_at") == "" || fmt.Sprint(r.body["scopes"]) != "[read:items]" {
		t.Fatalf("answer %s", r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
	list := e.call("GET", "/api-keys", tok, nil)
	wantStatus(t, list, 200)
	secret := key[len(r.str("prefix"))+1:]
	if strings.Contains(list.raw, secret) || strings.Contains(list.raw, `"key"`) {
		t.Fatalf("the list shows the secret: %s", list.raw)
	}
	keys := list.body["api_keys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["prefix"] != r.str("prefix") {
		t.Fatalf("list %s", list.raw)
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Fatal("the key's secret reached the log")
	}
}

func TestCreateAPIKeyAcceptsScopesAsAListOrAString(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", pw, gatehouse.RoleUser)
	tok := cred{bearer: e.token("alice", "")}
	for _, scopes := range []any{"write:items read:items", []string{"read:items", "write:items"}, nil} {
		body := map[string]any{"name": "ci"}
		if scopes != nil {
			body["scopes"] = scopes
		}
		r := e.call("POST", "/api-keys", tok, body)
		wantStatus(t, r, 201)
		if got := fmt.Sprint(r.body["scopes"]); got != "[read:items write:items]" {
			t.Errorf("scopes %v → %s", scopes, got)
		}
	}
}

func TestCreateAPIKeyRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", pw, gatehouse.RoleUser)
	tok := cred{bearer: e.token("alice", "read:items")}
	past := e.clock.Now().Add(-time.Minute).Format(time.RFC3339)
	tests := []struct {
		name   string
		body   map[string]any
		status int
		field  string
	}{
		{"missing name", map[string]any{}, 422, "name"},
		{"blank name", map[string]any{"name": " "}, 422, "name"},
		{"name too long", map[string]any{"name": strings.Repeat("n", 101)}, 422, "name"},
		{"unknown scope", map[string]any{"name": "ci", "scopes": "read:secrets"}, 422, "scopes"},
		{"empty scopes", map[string]any{"name": "ci", "scopes": ""}, 422, "scopes"},
		{"scopes of the wrong type", map[string]any{"name": "ci", "scopes": 7}, 422, "scopes"},
		{"expiry in the past", map[string]any{"name": "ci", "expires_at": past}, 422, "expires_at"},
		{"expiry not a time", map[string]any{"name": "ci", "expires_at": "tomorrow"}, 422, "expires_at"},
		{"scope beyond the token", map[string]any{"name": "ci", "scopes": "write:items"}, 403, ""},
		{"scope beyond the role", map[string]any{"name": "ci", "scopes": "admin"}, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call("POST", "/api-keys", tok, tt.body)
			if tt.status == 422 {
				wantValidation(t, r, tt.field)
			} else {
				wantStatus(t, r, tt.status)
			}
		})
	}
	if list := e.call("GET", "/api-keys", tok, nil); len(list.body["api_keys"].([]any)) != 0 {
		t.Fatalf("refused requests stored keys: %s", list.raw)
	}
}

func TestProtectedTakesOnlyAGoodAPIKey(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", pw, gatehouse.RoleUser)
	tok := e.token("alice", "")
	r := e.call("POST", "/api-keys", cred{bearer: tok}, map[string]any{"name": "deploy bot",
		"expires_at": e.clock.Now().Add(time.Hour).Format(time.RFC3339)})
	wantStatus(t, r, 201)
	key := r.str("key")

	got := e.call("GET", "/protected/", cred{key: key}, nil)
	wantStatus(t, got, 200)
	if got.str("message") != "Access granted" || got.str("key_name") != "deploy bot" {
		t.Fatalf("answer %s", got.raw)
	}
	wantDetail(t, e.call("GET", "/protected", cred{}, nil), 403, "API key required")
	wantDetail(t, e.call("GET", "/protected", cred{bearer: tok}, nil), 403, "API key required")
	wantDetail(t, e.call("GET", "/protected", cred{key: strings.ToUpper(key)}, nil), 403, "Invalid API key")
	wantDetail(t, e.call("GET", "/protected", cred{key: "your-api-key"}, nil), 403, "Invalid API key")

	e.clock.Advance(time.Hour)
	wantDetail(t, e.call("GET", "/protected", cred{key: key}, nil), 403, "Invalid API key")
}

func TestRevokedKeyStopsAtOnceAndOnlyItsOwnerOrAnAdminMayRevoke(t *testing.T) {
	e := newEnv(t)
	e.createUser("root", pw, gatehouse.RoleAdmin)
	e.createUser("alice", pw, gatehouse.RoleUser)
	e.createUser("mallory", pw, gatehouse.RoleUser)
	alice := cred{bearer: e.token("alice", "")}
	key, id := e.newKey(alice.bearer, nil)
	path := fmt.Sprint("/api-keys/", id)
	wantStatus(t, e.call("GET", "/items", cred{key: key}, nil), 200)

	// Refusals change nothing.
	wantDetail(t, e.call("DELETE", path, cred{bearer: e.token("mallory", "")}, nil), 404, "API key not found")
	wantDetail(t, e.call("DELETE", path, cred{bearer: e.token("root", "read:items")}, nil), 404, "API key not found")
	wantStatus(t, e.call("DELETE", path, cred{key: key}, nil), 403)
	for _, bad := range []string{"abc", "0", "999", "-1"} {
		wantStatus(t, e.call("DELETE", "/api-keys/"+bad, alice, nil), 404)
	}
	wantStatus(t, e.call("GET", "/items", cred{key: key}, nil), 200)

	wantStatus(t, e.call("DELETE", path, alice, nil), 200)
	wantDetail(t, e.call("GET", "/items", cred{key: key}, nil), 403, "Invalid API key")
	wantDetail(t, e.call("GET", "/protected", cred{key: key}, nil), 403, "Invalid API key")
	list := e.call("GET", "/api-keys", alice, nil)
	if k := list.body["api_keys"].([]any)[0].(map[string]any); k["is_active"] != false {
		t.Fatalf("revoked key listed as active: %s", list.raw)
	}

	// An admin revokes anyone's key.
	other, otherID := e.newKey(alice.bearer, nil)
	wantStatus(t, e.call("DELETE", fmt.Sprint("/api-keys/", otherID), cred{bearer: e.token("root", "")}, nil), 200)
	wantStatus(t, e.call("GET", "/items", cred{key: other}, nil), 403)
}

func TestKeyScopesShrinkWhenItsOwnerIsDemoted(t *testing.T) {
	e := newEnv(t)
	e.createUser("root", pw, gatehouse.RoleAdmin)
	ada := e.createUser("ada", pw, gatehouse.RoleAdmin)
	key, _ := e.newKey(e.token("ada", ""), nil)
	wantStatus(t, e.call("GET", "/users", cred{key: key}, nil), 200)
	// Demoted but left with read:users, so that only the admin scope the
	// key was made with is missing.
	e.setUser(ada.ID, auth.UserUpdate{Role: new(gatehouse.RoleUser), Permissions: &[]string{gatehouse.PermReadUsers}})
	r := e.call("GET", "/users", cred{key: key}, nil)
	wantDetail(t, r, 403, "Not enough permissions")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Fatalf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
	}
	wantStatus(t, e.call("GET", "/items", cred{key: key}, nil), 200)
	// Promoted again, the key's stored scopes apply again: they were never
	// rewritten, only cut at use.
	e.setUser(ada.ID, auth.UserUpdate{Role: new(gatehouse.RoleAdmin)})
	wantStatus(t, e.call("GET", "/users", cred{key: key}, nil), 200)
}

func TestKeyLastUseIsListed(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", pw, gatehouse.RoleUser)
	tok := cred{bearer: e.token("alice", "")}
	key, _ := e.newKey(tok.bearer, nil)
	k := e.call("GET", "/api-keys", tok, nil).body["api_keys"].([]any)[0].(map[string]any)
	if k["last_used_at"] != nil {
		t.Fatalf("unused key has last_used_at %v", k["last_used_at"])
	}
	e.clock.Advance(time.Minute)
	wantStatus(t, e.call("GET", "/protected", cred{key: key}, nil), 200)
	k = e.call("GET", "/api-keys", tok, nil).body["api_keys"].([]any)[0].(map[string]any)
	if k["last_used_at"] != e.clock.Now().UTC().Format(time.RFC3339) {
		t.Fatalf("last_used_at = %v, want %v", k["last_used_at"], e.clock.Now().UTC())
	}
}

func TestAPIKeysPerUserAreCapped(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", pw, gatehouse.RoleUser)
	e.createUser("bob", pw, gatehouse.RoleUser)
	alice := cred{bearer: e.token("alice", "")}
	var firstID int64
	for i := range auth.DefaultMaxAPIKeys {
		_, id := e.newKey(alice.bearer, nil)
		if i == 0 {
			firstID = id
		}
	}
	r := e.call("POST", "/api-keys", alice, map[string]any{"name": "one too many"})
	wantDetail(t, r, 409, gatehouse.TooManyAPIKeys(auth.DefaultMaxAPIKeys).Message)
	if n := len(e.call("GET", "/api-keys", alice, nil).body["api_keys"].([]any)); n != auth.DefaultMaxAPIKeys {
		t.Fatalf("%d keys listed after a refused creation, want %d", n, auth.DefaultMaxAPIKeys)
	}
	// The cap is per user, and revoking a key makes room.
	e.newKey(e.token("bob", ""), nil)
	wantStatus(t, e.call("DELETE", fmt.Sprint("/api-keys/", firstID), alice, nil), 200)
	wantStatus(t, e.call("POST", "/api-keys", alice, map[string]any{"name": "replacement"}), 201)
}
