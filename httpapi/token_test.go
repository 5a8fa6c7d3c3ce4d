package httpapi_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"golang.org/x/crypto/bcrypt"
)

func TestLoginIssuesTokenPair(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	r := e.login("alice", "correct horse battery")
	wantStatus(t, r, 200)
	if r.str("token_type") != "bearer" || r.str("access_token") == "" || r.str("refresh_token") == "" {
		t.Fatalf("token response: %s", r.raw)
	}
	if r.body["expires_in"] != float64(900) || r.str("scope") != "read:items write:items" {
		t.Fatalf("expires_in/scope: %s", r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
	if !strings.HasPrefix(r.str("refresh_token"), "ghr_") || strings.Count(r.str("access_token"), ".") != 2 {
		t.Errorf("token shapes: access %q refresh %q", r.str("access_token"), r.str("refresh_token"))
	}
}

func TestLoginAcceptsMultipartAndCaseInsensitiveUsername(t *testing.T) {
	e := newEnv(t)
	e.createUser("Alice", "correct horse battery", gatehouse.RoleUser)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("username", "ALICE")
	mw.WriteField("password", "correct horse battery")
	mw.Close()
	r := e.do("POST", "/token", &buf, map[string]string{"Content-Type": mw.FormDataContentType()})
	wantStatus(t, r, 200)
}

func TestWrongPasswordAndUnknownUserLookTheSame(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	wrong := e.login("alice", "wrong password here")
	unknown := e.login("mallory", "wrong password here")
	for _, r := range []response{wrong, unknown} {
		wantDetail(t, r, 401, "Incorrect username or password")
		if r.header.Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
		}
		if r.str("error") != "invalid_grant" || r.str("error_description") == "" {
			t.Errorf("RFC 6749 §5.2 fields missing: %s", r.raw)
		}
	}
	if wrong.raw != unknown.raw {
		t.Errorf("bodies differ:\n%s\n%s", wrong.raw, unknown.raw)
	}
}

func TestDisabledUserGetsNoTokens(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("bob", "correct horse battery", gatehouse.RoleUser)
	if _, err := e.svc.UpdateUser(context.Background(), u.ID, auth.UserUpdate{Disabled: new(true)}); err != nil {
		t.Fatal(err)
	}
	r := e.login("bob", "correct horse battery")
	wantDetail(t, r, 400, "Inactive user")
	if r.str("access_token") != "" {
		t.Fatal("disabled user got a token")
	}
	// A wrong password for a disabled account says only "incorrect".
	wantDetail(t, e.login("bob", "wrong password here"), 401, "Incorrect username or password")
}

func TestTokenEndpointValidation(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	tests := []struct {
		name  string
		r     response
		field string
	}{
		{"missing password", e.form("/token", url.Values{"username": {"alice"}}), "password"},
		{"missing username", e.form("/token", url.Values{"password": {"x"}}), "username"},
		{"json body", e.do("POST", "/token", strings.NewReader(`{"username":"alice","password":"x"}`), map[string]string{"Content-Type": "application/json"}), "body"},
		{"no content type", e.do("POST", "/token", strings.NewReader("username=alice&password=x"), nil), "body"},
		{"repeated parameter", e.do("POST", "/token", strings.NewReader("username=alice&username=bob&password=x"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}), "username"},
		{"unparsable form", e.do("POST", "/token", strings.NewReader("username=%zz&password=x"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}), "body"},
		{"password over 1024 bytes", e.login("alice", strings.Repeat("a", 1025)), "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantValidation(t, tt.r, tt.field) })
	}
	r := e.form("/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}})
	wantStatus(t, r, 400)
	if r.str("error") != "unsupported_grant_type" {
		t.Errorf("error = %q", r.str("error"))
	}
	// client_credentials exists since contract §13, for clients only.
	r = e.form("/token", url.Values{"grant_type": {"client_credentials"}})
	wantStatus(t, r, 401)
	if r.str("error") != "invalid_client" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("client_credentials without a client: %s %v", r.raw, r.header)
	}
}

func TestCredentialsInQueryStringAreIgnored(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	r := e.do("POST", "/token?username=alice&password=correct+horse+battery", strings.NewReader(""),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	wantValidation(t, r, "username")
}

func TestPasswordsAreUsedExactlyAsReceived(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", " padded secret ", gatehouse.RoleUser)
	wantStatus(t, e.login("alice", "padded secret"), 401)
	wantStatus(t, e.login("alice", " padded secret "), 200)
}

func TestBcryptHashIsUpgradedAtLogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	h, _ := bcrypt.GenerateFromPassword([]byte("imported password"), bcrypt.MinCost)
	u := &gatehouse.User{Username: "legacy", PasswordHash: strings.Replace(string(h), "$2a$", "$2y$", 1), Role: gatehouse.RoleUser}
	if err := e.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.login("legacy", "imported password"), 200)
	got, _ := e.store.UserByID(ctx, u.ID)
	if !strings.HasPrefix(got.PasswordHash, "$argon2id$") {
		t.Fatalf("hash after login = %q, want argon2id", got.PasswordHash[:10])
	}
	wantStatus(t, e.login("legacy", "imported password"), 200)
	wantStatus(t, e.login("legacy", "wrong password"), 401)
}

func TestScopesGrantedAreWhatTheRoleAllows(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.createUser("root", "correct horse battery", gatehouse.RoleAdmin)
	if r := e.login("alice", "correct horse battery", "admin read:items"); r.str("scope") != "read:items" {
		t.Errorf("user asking for admin got %q", r.str("scope"))
	}
	if r := e.login("root", "correct horse battery"); r.str("scope") != "read:items write:items admin" {
		t.Errorf("admin got %q", r.str("scope"))
	}
}

func TestUsersMe(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	at, rt := e.mustLogin("alice", "correct horse battery")
	for _, path := range []string{"/users/me", "/users/me/"} {
		r := e.get(path, at)
		wantStatus(t, r, 200)
		if r.str("username") != "alice" || r.str("email") != "alice@example.com" || r.str("role") != "user" ||
			r.body["disabled"] != false || r.body["totp_enabled"] != false || r.body["full_name"] != nil {
			t.Fatalf("%s: %s", path, r.raw)
		}
		if _, err := time.Parse(time.RFC3339, r.str("created_at")); err != nil {
			t.Errorf("created_at %q is not RFC 3339", r.str("created_at"))
		}
		if _, ok := r.body["id"].(float64); !ok {
			t.Errorf("id missing: %s", r.raw)
		}
		if strings.Contains(r.raw, "argon2") || strings.Contains(r.raw, "password") {
			t.Fatalf("user object leaks the hash: %s", r.raw)
		}
	}
	r := e.get("/users/me", "")
	wantDetail(t, r, 401, "Not authenticated")
	if r.header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
	}
	for name, tok := range map[string]string{
		"garbage":                 "not-a-token",
		"refresh token as access": rt,
		"tampered":                at[:len(at)-2] + "xx",
	} {
		r := e.get("/users/me", tok)
		wantDetail(t, r, 401, "Could not validate credentials")
		if got := r.header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
			t.Errorf("%s: WWW-Authenticate = %q", name, got)
		}
	}
	r = e.do("GET", "/users/me", nil, map[string]string{"Authorization": "Basic YWxpY2U6eA=="})
	wantDetail(t, r, 401, "Not authenticated")
}

func TestAccessTokenExpires(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	at, _ := e.mustLogin("alice", "correct horse battery")
	e.clock.Advance(15*time.Minute + 59*time.Second) // inside the 60 s leeway
	wantStatus(t, e.get("/users/me", at), 200)
	e.clock.Advance(2 * time.Second)
	wantDetail(t, e.get("/users/me", at), 401, "Could not validate credentials")
}

func TestUserStateTakesEffectAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.createUser("root", "correct horse battery", gatehouse.RoleAdmin)
	at, _ := e.mustLogin("alice", "correct horse battery")
	wantStatus(t, e.get("/users/me", at), 200) // now cached

	e.svc.UpdateUser(ctx, u.ID, auth.UserUpdate{Disabled: new(true)})
	wantDetail(t, e.get("/users/me", at), 400, "Inactive user")
	e.svc.UpdateUser(ctx, u.ID, auth.UserUpdate{Disabled: new(false)})
	wantStatus(t, e.get("/users/me", at), 200)

	if err := e.svc.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.get("/users/me", at), 401)
	// A new user of the same name does not inherit the old tokens.
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	wantStatus(t, e.get("/users/me", at), 401)
}

func TestDemotionDropsScopesAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	root := e.createUser("root", "correct horse battery", gatehouse.RoleAdmin)
	e.createUser("root2", "correct horse battery", gatehouse.RoleAdmin)
	at, _ := e.mustLogin("root", "correct horse battery")
	p, err := e.svc.Authenticate(ctx, at)
	if err != nil || !p.HasScope("admin") {
		t.Fatalf("admin token lacks admin scope: %v", err)
	}
	e.svc.UpdateUser(ctx, root.ID, auth.UserUpdate{Role: new(gatehouse.RoleUser)})
	p, err = e.svc.Authenticate(ctx, at)
	if err != nil || p.HasScope("admin") || !p.HasScope("read:items") {
		t.Fatalf("after demotion scope = %q, %v", p.Scope, err)
	}
	if r := e.get("/users/me", at); r.str("role") != "user" {
		t.Fatalf("/users/me role = %q after demotion", r.str("role"))
	}
}

func TestChangesMadeOutsideTheServerArePickedUp(t *testing.T) {
	// The CLI writes to the store directly; the server learns of it from the
	// change feed, without reading the database per request.
	e := newEnv(t)
	ctx := context.Background()
	u := e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	at, _ := e.mustLogin("alice", "correct horse battery")
	wantStatus(t, e.get("/users/me", at), 200)
	if _, _, err := e.store.UpdateUser(ctx, u.ID, gatehouse.UserEdit{Apply: func(u *gatehouse.User) error { u.Disabled = true; return nil }}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.get("/users/me", at), 200) // cached until the next poll
	if err := e.svc.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	wantDetail(t, e.get("/users/me", at), 400, "Inactive user")
}
