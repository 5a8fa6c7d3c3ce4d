package httpapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// adminEnv is a server with an admin "root" logged in with every scope.
func adminEnv(t *testing.T) (*env, cred) {
	e := newEnv(t)
	e.createUser("root", pw, gatehouse.RoleAdmin)
	return e, cred{bearer: e.token("root", "")}
}

func countUsers(t *testing.T, e *env) int {
	t.Helper()
	n, err := e.store.CountUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateUserAnswers201WithTheUser(t *testing.T) {
	e, root := adminEnv(t)
	r := e.call("POST", "/users", root, map[string]any{"username": "Ａlice", "password": pw, "email": "alice@example.com",
		"full_name": "Alice A.", "role": "moderator", "permissions": []string{"read:users", "read:users"}})
	wantStatus(t, r, 201)
	if r.str("username") != "Alice" || r.str("role") != "moderator" || r.str("email") != "alice@example.com" ||
		r.str("full_name") != "Alice A." || r.body["disabled"] != false || r.body["totp_enabled"] != false {
		t.Fatalf("user: %s", r.raw)
	}
	if perms := r.body["permissions"].([]any); len(perms) != 1 || perms[0] != "read:users" {
		t.Fatalf("permissions = %v", perms)
	}
	if _, hasHash := r.body["password_hash"]; hasHash || strings.Contains(r.raw, "argon2") {
		t.Fatalf("the answer carries the password hash: %s", r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	wantStatus(t, e.login("alice", pw), 200)
}

func TestCreateUserRefusesBadInputAndStoresNothing(t *testing.T) {
	e, root := adminEnv(t)
	e.createUser("Alice", pw, gatehouse.RoleUser)
	before := countUsers(t, e)
	tests := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"duplicate", map[string]any{"username": "Alice", "password": pw}, 409, ""},
		{"duplicate in other case", map[string]any{"username": "ALICE", "password": pw}, 409, ""},
		{"duplicate in fullwidth letters", map[string]any{"username": "ａｌｉｃｅ", "password": pw}, 409, ""},
		{"missing username", map[string]any{"password": pw}, 422, "username"},
		{"missing password", map[string]any{"username": "bob"}, 422, "password"},
		{"blank username", map[string]any{"username": "   ", "password": pw}, 422, "username"},
		{"control character in username", map[string]any{"username": "bo\u0000b", "password": pw}, 422, "username"},
		{"username of 65 characters", map[string]any{"username": strings.Repeat("b", 65), "password": pw}, 422, "username"},
		{"short password", map[string]any{"username": "bob", "password": "short"}, 422, "password"},
		{"common password", map[string]any{"username": "bob", "password": "password123"}, 422, "password"},
		{"password over 1024 bytes", map[string]any{"username": "bob", "password": strings.Repeat("x", 1025)}, 422, "password"},
		{"bad email", map[string]any{"username": "bob", "password": pw, "email": "not an email"}, 422, "email"},
		{"unknown role", map[string]any{"username": "bob", "password": pw, "role": "root"}, 422, "role"},
		{"unknown permission", map[string]any{"username": "bob", "password": pw, "permissions": []string{"sudo"}}, 422, "permissions"},
		{"wrong type", map[string]any{"username": 42, "password": pw}, 422, "username"},
		{"not JSON", "{", 422, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r response
			if s, ok := tt.body.(string); ok {
				r = e.do("POST", "/users", strings.NewReader(s), root.header())
			} else {
				r = e.call("POST", "/users", root, tt.body)
			}
			if tt.status == 422 {
				wantValidation(t, r, tt.field)
			} else {
				wantDetail(t, r, tt.status, "Username already registered")
			}
		})
	}
	if n := countUsers(t, e); n != before {
		t.Fatalf("refused creations changed the user count from %d to %d", before, n)
	}
}

func TestConcurrentCreatesOfOneNameYieldExactlyOne201(t *testing.T) {
	e, root := adminEnv(t)
	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Different spellings of one name: the store's unique key folds them.
			name := []string{"racer", "Racer", "RACER", "ｒａｃｅｒ"}[i%4]
			statuses[i] = e.call("POST", "/users", root, map[string]any{"username": name, "password": pw}).status
		})
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 409:
		default:
			t.Errorf("status %d, want 201 or 409", s)
		}
	}
	if created != 1 {
		t.Fatalf("%d creations succeeded, want exactly 1 (statuses %v)", created, statuses)
	}
	if n := countUsers(t, e); n != 2 {
		t.Fatalf("%d users stored, want 2", n)
	}
}

func TestUserIDsThatNameNothingAre404(t *testing.T) {
	e, root := adminEnv(t)
	for _, id := range []string{"999", "0", "-1", "abc", "1.0", "01", "+1", "1e3", "9223372036854775808", "%20"} {
		for _, method := range []string{"GET", "PATCH", "DELETE"} {
			r := e.call(method, "/users/"+id, root, map[string]any{})
			wantDetail(t, r, 404, "User not found")
		}
	}
	wantStatus(t, e.call("GET", "/users/1", root, nil), 200)
	wantStatus(t, e.call("GET", "/users/1/", root, nil), 200)
}

func TestListUsersPagesByCursor(t *testing.T) {
	e, root := adminEnv(t)
	for i := range 4 {
		e.createUser(fmt.Sprint("user", i), pw, gatehouse.RoleUser)
	}
	var names []string
	cursor := ""
	for page := 0; ; page++ {
		path := "/users?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.call("GET", path, root, nil)
		wantStatus(t, r, 200)
		for _, u := range r.body["users"].([]any) {
			names = append(names, u.(map[string]any)["username"].(string))
		}
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			if r.body["next_cursor"] != nil {
				t.Fatalf("next_cursor on the last page: %s", r.raw)
			}
			break
		}
		cursor = next
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if want := []string{"root", "user0", "user1", "user2", "user3"}; !slices.Equal(names, want) {
		t.Fatalf("users = %v, want %v", names, want)
	}
	wantValidation(t, e.call("GET", "/users?limit=0", root, nil), "limit")
	wantValidation(t, e.call("GET", "/users?limit=501", root, nil), "limit")
	wantValidation(t, e.call("GET", "/users?cursor=!!", root, nil), "cursor")
}

func TestPatchUserChangesWhatIsSent(t *testing.T) {
	e, root := adminEnv(t)
	u := e.createUser("bob", pw, gatehouse.RoleUser)
	path := fmt.Sprint("/users/", u.ID)
	r := e.call("PATCH", path, root, map[string]any{"role": "moderator", "permissions": []string{"read:users"},
		"email": "bob@example.org", "full_name": "Bob B."})
	wantStatus(t, r, 200)
	got := e.userByID(u.ID)
	if got.Role != gatehouse.RoleModerator || !slices.Equal(got.Permissions, []string{"read:users"}) ||
		got.Email != "bob@example.org" || got.FullName != "Bob B." || got.Disabled {
		t.Fatalf("stored user %+v", got)
	}
	if r.str("role") != "moderator" || r.str("full_name") != "Bob B." || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("answer %s", r.raw)
	}

	wantStatus(t, e.call("PATCH", path, root, map[string]any{"password": "a brand new passphrase"}), 200)
	wantStatus(t, e.login("bob", pw), 401)
	wantStatus(t, e.login("bob", "a brand new passphrase"), 200)

	// Only what is sent changes.
	wantStatus(t, e.call("PATCH", path, root, map[string]any{"disabled": true}), 200)
	if got := e.userByID(u.ID); !got.Disabled || got.Role != gatehouse.RoleModerator || got.Email != "bob@example.org" {
		t.Fatalf("after disabling: %+v", got)
	}
}

func TestPatchUserTOTPFalseResetsTwoFactor(t *testing.T) {
	e, root := adminEnv(t)
	u := e.createUser("bob", pw, gatehouse.RoleUser)
	ctx := context.Background()
	if err := e.store.SetPendingTOTP(ctx, u.ID, "sealed-secret"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.EnableTOTP(ctx, u.ID, "sealed-secret", 1, nil); err != nil {
		t.Fatal(err)
	}
	e.svc.UserChanged(u.ID)
	path := fmt.Sprint("/users/", u.ID)
	wantValidation(t, e.call("PATCH", path, root, map[string]any{"totp_enabled": true}), "totp_enabled")
	if !e.userByID(u.ID).TOTPEnabled {
		t.Fatal("a refused PATCH turned 2FA off")
	}
	r := e.call("PATCH", path, root, map[string]any{"totp_enabled": false})
	wantStatus(t, r, 200)
	if r.body["totp_enabled"] != false || e.userByID(u.ID).TOTPEnabled {
		t.Fatalf("2FA still on: %s", r.raw)
	}
	if _, err := e.store.TOTP(ctx, u.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("2FA state left behind: %v", err)
	}
}

func TestRefusedPatchChangesNothing(t *testing.T) {
	e, root := adminEnv(t)
	u := e.createUser("bob", pw, gatehouse.RoleUser)
	path := fmt.Sprint("/users/", u.ID)
	before := e.userByID(u.ID)
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"valid role, bad email", map[string]any{"role": "admin", "email": "nope"}, "email"},
		{"valid role, unknown role", map[string]any{"disabled": true, "role": "superuser"}, "role"},
		{"valid email, unknown permission", map[string]any{"email": "b@example.com", "permissions": []string{"root"}}, "permissions"},
		{"valid role, weak password", map[string]any{"role": "admin", "password": "bob"}, "password"},
		{"role of the wrong type", map[string]any{"role": 3}, "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantValidation(t, e.call("PATCH", path, root, tt.body), tt.field)
			after := e.userByID(u.ID)
			if after.Role != before.Role || after.Email != before.Email || after.Disabled != before.Disabled ||
				after.PasswordHash != before.PasswordHash || !slices.Equal(after.Permissions, before.Permissions) {
				t.Fatalf("user changed: %+v", after)
			}
		})
	}
}

func TestLastAdminCannotBeDemotedDisabledOrDeleted(t *testing.T) {
	e, root := adminEnv(t)
	rootUser := e.userByID(1)
	path := "/users/1"
	tests := []struct {
		name, method string
		body         map[string]any
	}{
		{"demote", "PATCH", map[string]any{"role": "moderator"}},
		{"disable", "PATCH", map[string]any{"disabled": true}},
		{"demote and change the password", "PATCH", map[string]any{"role": "user", "password": "another passphrase"}},
		{"delete", "DELETE", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantDetail(t, e.call(tt.method, path, root, tt.body), 403, "Cannot remove the last admin")
			after := e.userByID(1)
			if after == nil || after.Role != gatehouse.RoleAdmin || after.Disabled || after.PasswordHash != rootUser.PasswordHash {
				t.Fatalf("the last admin changed: %+v", after)
			}
		})
	}
	// With a second admin, the first can go.
	e.createUser("ada", pw, gatehouse.RoleAdmin)
	wantStatus(t, e.call("PATCH", path, root, map[string]any{"role": "user"}), 200)
}

func TestUserChangesTakeEffectAtOnceOnTokensAndKeys(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		body      map[string]any
		token     int // GET /users with admin bob's existing token, after the change
		key       int // likewise with his existing key
		itemsWith int // GET /items with his token
	}{
		{"demotion", "PATCH", map[string]any{"role": "user"}, 403, 403, 200},
		{"disabling", "PATCH", map[string]any{"disabled": true}, 400, 403, 400},
		{"deletion", "DELETE", nil, 401, 403, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, root := adminEnv(t)
			bob := e.createUser("bob", pw, gatehouse.RoleAdmin)
			tok := e.token("bob", "")
			key, _ := e.newKey(tok, nil)
			wantStatus(t, e.call("GET", "/users", cred{bearer: tok}, nil), 200)
			wantStatus(t, e.call("GET", "/users", cred{key: key}, nil), 200)
			wantStatus(t, e.call(tt.method, fmt.Sprint("/users/", bob.ID), root, tt.body), 200)
			wantStatus(t, e.call("GET", "/users", cred{bearer: tok}, nil), tt.token)
			wantStatus(t, e.call("GET", "/users", cred{key: key}, nil), tt.key)
			wantStatus(t, e.call("GET", "/items", cred{bearer: tok}, nil), tt.itemsWith)
		})
	}
}
