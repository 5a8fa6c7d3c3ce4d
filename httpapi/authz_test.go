package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
)

// Helpers for the authorisation tests (admin, API keys, example resources).

const pw = "correct horse battery"

// cred is how a request authenticates: a Bearer token, an API key, both or
// neither.
type cred struct {
	bearer, key string
}

func (c cred) header() map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	if c.bearer != "" {
		h["Authorization"] = "Bearer " + c.bearer
	}
	if c.key != "" {
		h["X-API-Key"] = c.key
	}
	return h
}

// call sends body (nil, or a value encoded as JSON) with c's credentials.
func (e *env) call(method, path string, c cred, body any) response {
	e.t.Helper()
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			e.t.Fatal(err)
		}
	}
	return e.do(method, path, &buf, c.header())
}

// token logs in with the requested scope ("" for the default) and returns
// the access token.
func (e *env) token(user string, scope string) string {
	e.t.Helper()
	r := e.login(user, pw, scope)
	if r.status != 200 {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.raw)
	}
	return r.str("access_token")
}

// newKey creates an API key through the API with a token; scopes nil asks
// for the default.
func (e *env) newKey(bearer string, scopes any) (key string, id int64) {
	e.t.Helper()
	body := map[string]any{"name": "key-" + bearer[len(bearer)-8:]}
	if scopes != nil {
		body["scopes"] = scopes
	}
	r := e.call("POST", "/api-keys", cred{bearer: bearer}, body)
	if r.status != 201 {
		e.t.Fatalf("create key: %d %s", r.status, r.raw)
	}
	return r.str("key"), int64(r.body["id"].(float64))
}

func (e *env) setUser(id int64, upd auth.UserUpdate) {
	e.t.Helper()
	if _, err := e.svc.UpdateUser(context.Background(), id, upd); err != nil {
		e.t.Fatal(err)
	}
}

// userByID reads a user from the store, nil when it does not exist.
func (e *env) userByID(id int64) *gatehouse.User {
	e.t.Helper()
	u, err := e.store.UserByID(context.Background(), id)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// TestAuthorisationMatrix sends every protected route every kind of
// principal and checks the status. Routes that act on a target get a fresh
// one for each request, so that one principal's success does not change the
// next one's answer.
func TestAuthorisationMatrix(t *testing.T) {
	e := newEnv(t)
	e.createUser("root", pw, gatehouse.RoleAdmin)
	e.createUser("ada", pw, gatehouse.RoleAdmin)
	e.createUser("alice", pw, gatehouse.RoleUser)
	e.createUser("mo", pw, gatehouse.RoleModerator)
	extra := e.createUser("perky", pw, gatehouse.RoleUser)
	e.setUser(extra.ID, auth.UserUpdate{Permissions: &[]string{gatehouse.PermReadUsers, gatehouse.PermWriteUsers, gatehouse.PermDeleteUsers}})
	gone := e.createUser("gone", pw, gatehouse.RoleUser)

	adminTok := e.token("ada", "")
	userTok := e.token("alice", "")
	modTok := e.token("mo", "")
	goneTok := e.token("gone", "")
	userKey, _ := e.newKey(userTok, nil)
	userReadKey, _ := e.newKey(userTok, "read:items")
	modKey, _ := e.newKey(modTok, nil)
	adminKey, _ := e.newKey(adminTok, nil)
	adminItemsKey, _ := e.newKey(adminTok, []string{"read:items", "write:items"})
	revokedKey, revokedID := e.newKey(userTok, nil)
	wantStatus(t, e.call("DELETE", fmt.Sprint("/api-keys/", revokedID), cred{bearer: userTok}, nil), 200)
	goneKey, _ := e.newKey(goneTok, nil)
	e.setUser(gone.ID, auth.UserUpdate{Disabled: new(true)})
	badKey := userKey[:len(userKey)-2] + "AA"
	if badKey == userKey {
		badKey = userKey[:len(userKey)-2] + "BA"
	}

	victim := 0
	target := func() (userID, keyID int64) { // a user with a key, made by root
		victim++
		u := e.createUser(fmt.Sprint("victim", victim), pw, gatehouse.RoleUser)
		_, k, err := e.svc.CreateAPIKey(context.Background(), &gatehouse.Principal{User: u, Scope: "read:items"}, "v", "", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID, k.ID
	}
	newName := 0
	routes := []struct {
		method, path string
		body         func() any
	}{
		{"GET", "/users/me", nil},
		{"GET", "/users", nil},
		{"POST", "/users", func() any { newName++; return map[string]any{"username": fmt.Sprint("made", newName), "password": pw} }},
		{"GET", "/users/%d", nil},
		{"PATCH", "/users/%d", func() any { return map[string]any{"full_name": "Changed"} }},
		{"DELETE", "/users/%d", nil},
		{"GET", "/items", nil},
		{"POST", "/items", func() any { return map[string]any{"name": "widget"} }},
		{"POST", "/moderate", nil},
		{"GET", "/protected", nil},
		{"POST", "/api-keys", func() any { return map[string]any{"name": "ci"} }},
		{"GET", "/api-keys", nil},
		{"DELETE", "/api-keys/%k", nil},
	}
	tests := []struct {
		who  string
		c    cred
		want []int // in the order of routes
	}{
		//                                              me   users POST get  patch del  items POST mod  prot keys+ keys keys-
		{"no credentials", cred{}, []int{401, 401, 401, 401, 401, 401, 401, 401, 401, 403, 401, 401, 401}},
		{"malformed token", cred{bearer: "not.a.token"}, []int{401, 401, 401, 401, 401, 401, 401, 401, 401, 403, 401, 401, 401}},
		{"user, full token", cred{bearer: userTok}, []int{200, 403, 403, 403, 403, 403, 200, 200, 403, 403, 201, 200, 404}},
		{"user, read:items token", cred{bearer: e.token("alice", "read:items")}, []int{200, 403, 403, 403, 403, 403, 200, 403, 403, 403, 201, 200, 404}},
		{"user, write:items token", cred{bearer: e.token("alice", "write:items")}, []int{200, 403, 403, 403, 403, 403, 403, 200, 403, 403, 201, 200, 404}},
		{"user who asked for admin (granted nothing)", cred{bearer: e.token("alice", "admin")}, []int{200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 201, 200, 404}},
		{"user with every user permission but no admin scope", cred{bearer: e.token("perky", "")}, []int{200, 403, 403, 403, 403, 403, 200, 200, 403, 403, 201, 200, 404}},
		{"moderator, full token", cred{bearer: modTok}, []int{200, 403, 403, 403, 403, 403, 200, 200, 200, 403, 201, 200, 404}},
		{"admin, full token", cred{bearer: adminTok}, []int{200, 200, 201, 200, 200, 200, 200, 200, 200, 403, 201, 200, 200}},
		{"admin, token without admin scope", cred{bearer: e.token("ada", "read:items write:items")}, []int{200, 403, 403, 403, 403, 403, 200, 200, 200, 403, 201, 200, 404}},
		{"admin, admin-only token", cred{bearer: e.token("ada", "admin")}, []int{200, 200, 201, 200, 200, 200, 403, 403, 200, 403, 201, 200, 200}},
		{"disabled user's token", cred{bearer: goneTok}, []int{400, 400, 400, 400, 400, 400, 400, 400, 400, 403, 400, 400, 400}},
		{"user's key", cred{key: userKey}, []int{200, 403, 403, 403, 403, 403, 200, 200, 403, 200, 403, 403, 403}},
		{"user's read:items key", cred{key: userReadKey}, []int{200, 403, 403, 403, 403, 403, 200, 403, 403, 200, 403, 403, 403}},
		{"moderator's key", cred{key: modKey}, []int{200, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403}},
		{"admin's key", cred{key: adminKey}, []int{200, 200, 201, 200, 200, 200, 200, 200, 200, 200, 403, 403, 403}},
		{"admin's key without admin scope", cred{key: adminItemsKey}, []int{200, 403, 403, 403, 403, 403, 200, 200, 200, 200, 403, 403, 403}},
		{"wrong key", cred{key: badKey}, []int{403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403}},
		{"revoked key", cred{key: revokedKey}, []int{403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403}},
		{"disabled user's key", cred{key: goneKey}, []int{403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403}},
		{"user token and admin key: the token wins, except on /protected", cred{bearer: userTok, key: adminKey}, []int{200, 403, 403, 403, 403, 403, 200, 200, 403, 200, 201, 200, 404}},
	}
	for _, tt := range tests {
		t.Run(tt.who, func(t *testing.T) {
			if len(tt.want) != len(routes) {
				t.Fatalf("%d statuses for %d routes", len(tt.want), len(routes))
			}
			for i, rt := range routes {
				path := rt.path
				switch {
				case strings.Contains(path, "%d"):
					uid, _ := target()
					path = fmt.Sprintf(path, uid)
				case strings.Contains(path, "%k"):
					_, kid := target()
					path = strings.Replace(path, "%k", fmt.Sprint(kid), 1)
				}
				var body any
				if rt.body != nil {
					body = rt.body()
				}
				r := e.call(rt.method, path, tt.c, body)
				if r.status != tt.want[i] {
					t.Errorf("%s %s: status %d, want %d; body %s", rt.method, rt.path, r.status, tt.want[i], r.raw)
				}
			}
		})
	}
}

func TestRefusalsSayWhy(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", pw, gatehouse.RoleUser)
	readOnly := e.token("alice", "read:items")
	key, _ := e.newKey(readOnly, nil)
	tests := []struct {
		name, method, path string
		c                  cred
		status             int
		detail, challenge  string
	}{
		{"no credentials", "GET", "/items", cred{}, 401, "Not authenticated", "Bearer"},
		{"bad token", "GET", "/items", cred{bearer: "x.y.z"}, 401, "Could not validate credentials", `Bearer error="invalid_token"`},
		{"missing scope on a token", "POST", "/items", cred{bearer: readOnly}, 403, "Not enough permissions",
			`Bearer scope="write:items", error="insufficient_scope"`},
		{"missing scope on a key", "POST", "/items", cred{key: key}, 403, "Not enough permissions",
			`Bearer scope="write:items", error="insufficient_scope"`},
		{"missing role", "POST", "/moderate", cred{bearer: readOnly}, 403, "Access denied. Required role: moderator", ""},
		{"missing permission", "GET", "/users", cred{bearer: readOnly}, 403, "Insufficient permissions", ""},
		{"no key on /protected", "GET", "/protected", cred{bearer: readOnly}, 403, "API key required", ""},
		{"wrong key on /protected", "GET", "/protected", cred{key: "ghk_nope"}, 403, "Invalid API key", ""},
		{"key managing keys", "GET", "/api-keys", cred{key: key}, 403, "API keys cannot manage API keys; use a token", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(tt.method, tt.path, tt.c, nil)
			wantDetail(t, r, tt.status, tt.detail)
			if got := r.header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
		})
	}
}

func TestUserAskingForAdminScopeDoesNotGetIt(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", pw, gatehouse.RoleUser)
	for _, scope := range []string{"admin", "read:items admin", "ADMIN admin:all"} {
		r := e.login("alice", pw, scope)
		wantStatus(t, r, 200)
		if gatehouse.HasScope(r.str("scope"), "admin") {
			t.Fatalf("asked for %q, granted %q", scope, r.str("scope"))
		}
		wantStatus(t, e.call("GET", "/users", cred{bearer: r.str("access_token")}, nil), 403)
	}
	tok := e.token("alice", "")
	r := e.call("POST", "/api-keys", cred{bearer: tok}, map[string]any{"name": "sneaky", "scopes": "read:items admin"})
	wantStatus(t, r, 403)
	if keys := e.call("GET", "/api-keys", cred{bearer: tok}, nil); len(keys.body["api_keys"].([]any)) != 0 {
		t.Fatalf("a refused key was stored: %s", keys.raw)
	}
}
