package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/internal/testservice"
	"github.com/gatehouse/gatehouse/rbac"
)

// benchServer is the server handler with one user, an access token and an
// API key of that user, for benchmarks (env needs a *testing.T).
func benchServer(b *testing.B) (h http.Handler, bearer, key string) {
	b.Helper()
	ctx := context.Background()
	svc, store := testservice.New(b, testservice.Options{})
	u, err := svc.CreateUser(ctx, auth.NewUser{Username: "alice", Password: pw})
	if err != nil {
		b.Fatal(err)
	}
	pair, err := svc.Login(ctx, "alice", pw, "")
	if err != nil {
		b.Fatal(err)
	}
	key, _, err = svc.CreateAPIKey(ctx, &gatehouse.Principal{User: u, Scope: rbac.Grant(u.Role, "")}, "bench", "", time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{Auth: svc, Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return api, pair.AccessToken, key
}

// BenchmarkGuardedRequest serves whole requests in process: GET /users/me
// (authentication only, no database read) and GET /items (a scope check,
// then the handler's own query) and GET /auth/verify (a scope check and
// the answer for a proxy), with a token and with a key.
func BenchmarkGuardedRequest(b *testing.B) {
	h, bearer, key := benchServer(b)
	creds := []struct {
		name, header, value string
	}{
		{"token", "Authorization", "Bearer " + bearer},
		{"key", "X-API-Key", key},
	}
	for _, path := range []string{"/users/me", "/items", "/auth/verify?scope=read:items"} {
		for _, c := range creds {
			b.Run(path[1:]+"/"+c.name, func(b *testing.B) {
				req := httptest.NewRequest("GET", path, nil)
				req.Header.Set(c.header, c.value)
				b.ReportAllocs()
				for b.Loop() {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
		}
	}
}
