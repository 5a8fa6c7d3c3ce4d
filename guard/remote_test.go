package guard_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/internal/testservice"
	"github.com/gatehouse/gatehouse/rbac"
)

// gatehouseServer is a real Gatehouse server (on SQLite) and its service.
func gatehouseServer(t testing.TB) (*httptest.Server, *auth.Service) {
	t.Helper()
	svc, store := testservice.New(t, testservice.Options{})
	api, err := httpapi.New(httpapi.Config{Auth: svc, Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv, svc
}

// TestRemoteGuardsAServiceWithoutTheSigningKey protects a service with
// guard over a Remote pointed at a real Gatehouse server, and checks that
// what happens on Gatehouse — logout, disabling, key revocation — is
// refused by the service at the next request.
func TestRemoteGuardsAServiceWithoutTheSigningKey(t *testing.T) {
	ctx := context.Background()
	gh, svc := gatehouseServer(t)
	u, err := svc.CreateUser(ctx, auth.NewUser{Username: "alice", Password: "correct horse battery", Role: gatehouse.RoleModerator})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := svc.Login(ctx, "alice", "correct horse battery", "read:items")
	if err != nil {
		t.Fatal(err)
	}
	key, k, err := svc.CreateAPIKey(ctx, &gatehouse.Principal{User: u, Scope: rbac.Grant(u.Role, "")}, "ci", "write:items", time.Time{})
	if err != nil {
		t.Fatal(err)
	}

	remote, err := guard.NewRemote(gh.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	g := guard.New(remote, remote, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	show := func(w http.ResponseWriter, r *http.Request) {
		p, _ := gatehouse.PrincipalFrom(r.Context())
		json.NewEncoder(w).Encode(map[string]any{"user": p.User.Username, "scope": p.Scope, "key": p.APIKeyID})
	}
	mux.Handle("GET /items", g.Require(guard.Scopes("read:items"))(http.HandlerFunc(show)))
	mux.Handle("POST /items", g.Require(guard.Scopes("write:items"))(http.HandlerFunc(show)))
	mux.Handle("POST /moderate", g.Require(guard.MinRole(gatehouse.RoleModerator))(http.HandlerFunc(show)))
	mux.Handle("GET /users", g.Require(guard.Permission(gatehouse.PermReadUsers))(http.HandlerFunc(show)))
	service := httptest.NewServer(mux)
	defer service.Close()

	send := func(method, path, header, value string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, service.URL+path, nil)
		if header != "" {
			req.Header.Set(header, value)
		}
		res, err := service.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, strings.TrimSpace(string(b)), res.Header
	}
	bearer := "Bearer " + pair.AccessToken
	for _, tt := range []struct {
		name, method, path, header, value string
		status                            int
		body                              string
	}{
		{"token with the scope", "GET", "/items", "Authorization", bearer, 200, `{"key":0,"scope":"read:items","user":"alice"}`},
		{"token without the scope", "POST", "/items", "Authorization", bearer, 403, ""},
		{"role checked from Gatehouse's answer", "POST", "/moderate", "Authorization", bearer, 200, ""},
		{"permission checked from Gatehouse's answer", "GET", "/users", "Authorization", bearer, 403, ""},
		{"key with its own scope", "POST", "/items", "X-API-Key", key, 200, `{"key":` + itoa(k.ID) + `,"scope":"write:items","user":"alice"}`},
		{"key without the scope", "GET", "/items", "X-API-Key", key, 403, ""},
		{"no credential", "GET", "/items", "", "", 401, ""},
		{"forged token", "GET", "/items", "Authorization", bearer + "x", 401, ""},
		{"unknown key", "GET", "/items", "X-API-Key", key[:len(key)-1] + "x", 403, `{"detail":"Invalid API key"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body, _ := send(tt.method, tt.path, tt.header, tt.value)
			if code != tt.status || (tt.body != "" && body != tt.body) {
				t.Fatalf("%d %s, want %d %s", code, body, tt.status, tt.body)
			}
		})
	}

	// Changes on Gatehouse reach the service at its next request.
	if err := svc.RevokeAPIKey(ctx, &gatehouse.Principal{User: u, Scope: rbac.Grant(u.Role, "")}, k.ID); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := send("POST", "/items", "X-API-Key", key); code != 403 || body != `{"detail":"Invalid API key"}` {
		t.Fatalf("revoked key: %d %s", code, body)
	}
	if _, err := svc.UpdateUser(ctx, u.ID, auth.UserUpdate{Disabled: new(true)}); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := send("GET", "/items", "Authorization", bearer); code != 400 || body != `{"detail":"Inactive user"}` {
		t.Fatalf("disabled user: %d %s, want 400 Inactive user as on Gatehouse", code, body)
	}
	if _, err := svc.UpdateUser(ctx, u.ID, auth.UserUpdate{Disabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
	code, body, h := send("GET", "/items", "Authorization", bearer)
	if code != 401 || body != `{"detail":"Token has been revoked"}` || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("logged-out token: %d %s (WWW-Authenticate %q)", code, body, h.Get("WWW-Authenticate"))
	}

	// Gatehouse down: the service fails closed with 503, and the error
	// it logs or answers never carries the credential.
	gh.Close()
	_, err = remote.Authenticate(ctx, pair.AccessToken)
	if gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE || strings.Contains(err.Error(), pair.AccessToken) {
		t.Fatalf("Gatehouse down: %v", err)
	}
	if code, _, _ := send("GET", "/items", "Authorization", bearer); code != 503 {
		t.Fatalf("Gatehouse down: %d, want 503", code)
	}
}

func TestRemoteFailsClosedOnAnythingButTheThreeAnswers(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
	}{
		{"a 500", 500, `{"detail":"Internal server error"}`},
		{"a 404 (not a Gatehouse)", 404, `{"detail":"Not Found"}`},
		{"a 422", 422, `{"detail":[]}`},
		{"a 200 that is not an answer", 200, `<html>welcome</html>`},
		{"a 200 without a user", 200, `{"username":"x","role":"admin"}`},
		{"a 200 with an unknown role", 200, `{"user_id":1,"username":"x","role":"root"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			remote, err := guard.NewRemote(srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := remote.Authenticate(context.Background(), "t"); gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
				t.Fatalf("%v, want EUNAVAILABLE", err)
			}
		})
	}
	t.Run("a redirect, which must not carry the key elsewhere", func(t *testing.T) {
		leaked := make(chan string, 1)
		elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			leaked <- r.Header.Get("X-API-Key")
			io.WriteString(w, `{"user_id":1,"username":"x","role":"admin"}`)
		}))
		defer elsewhere.Close()
		redirector := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/auth/verify", http.StatusPermanentRedirect))
		defer redirector.Close()
		// Even with a client that would follow redirects.
		remote, err := guard.NewRemote(redirector.URL, &http.Client{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := remote.AuthenticateKey(context.Background(), "ghk_secret"); gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
			t.Fatalf("%v, want EUNAVAILABLE", err)
		}
		select {
		case k := <-leaked:
			t.Fatalf("the redirect was followed and the key %q sent to another server", k)
		default:
		}
	})
	for _, bad := range []string{"http://u:p@h", "http://u@h", "", "gatehouse:8000", "ftp://h", "http://", "http://h/?x=1", "http://h/#f", "://h"} {
		_, err := guard.NewRemote(bad, nil)
		if err == nil {
			t.Errorf("NewRemote(%q) accepted", bad)
		} else if strings.Contains(err.Error(), ":p@") {
			t.Errorf("NewRemote(%q) echoes the password: %v", bad, err)
		}
	}
}

// TestRemoteDecidesOnTheReasonNotTheWording: Remote maps Gatehouse's
// refusal by its machine-readable reason; the detail is only passed on.
func TestRemoteDecidesOnTheReasonNotTheWording(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
		code   string // of the error Remote returns
		oauth  string
		detail string
	}{
		{"inactive user, reworded", 403, `{"detail":"Account switched off","error":"inactive_user"}`, gatehouse.EINACTIVE, "", "Account switched off"},
		{"the old wording without a reason is no inactive user", 403, `{"detail":"Inactive user"}`, gatehouse.EFORBIDDEN, "", "Inactive user"},
		{"invalid token", 401, `{"detail":"Nope","error":"invalid_token"}`, gatehouse.EUNAUTHENTICATED, "invalid_token", "Nope"},
		{"no credential", 401, `{"detail":"Not authenticated","error":"unauthenticated"}`, gatehouse.EUNAUTHENTICATED, "", "Not authenticated"},
		{"invalid API key", 403, `{"detail":"Invalid API key","error":"invalid_api_key"}`, gatehouse.EFORBIDDEN, "", "Invalid API key"},
		{"an unknown reason", 403, `{"detail":"Go away","error":"something_new"}`, gatehouse.EFORBIDDEN, "", "Go away"},
		{"no body", 401, ``, gatehouse.EUNAUTHENTICATED, "", "Unauthorized"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			remote, err := guard.NewRemote(srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = remote.Authenticate(context.Background(), "t")
			var e *gatehouse.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.OAuth != tt.oauth || e.Message != tt.detail {
				t.Fatalf("%v, want code %s, OAuth %q, message %q", err, tt.code, tt.oauth, tt.detail)
			}
		})
	}
}

// BenchmarkRemoteAuthenticate is what guard.Remote adds to each request
// of the guarded service: one loopback round trip to a real Gatehouse.
func BenchmarkRemoteAuthenticate(b *testing.B) {
	ctx := context.Background()
	gh, svc := gatehouseServer(b)
	if _, err := svc.CreateUser(ctx, auth.NewUser{Username: "alice", Password: "correct horse battery"}); err != nil {
		b.Fatal(err)
	}
	pair, err := svc.Login(ctx, "alice", "correct horse battery", "")
	if err != nil {
		b.Fatal(err)
	}
	remote, err := guard.NewRemote(gh.URL, gh.Client())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := remote.Authenticate(ctx, pair.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
