package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/internal/testservice"
)

// BenchmarkVerifyCookie compares /auth/verify?scope=read:items with a
// browser's session cookie and with a Bearer token, whole requests in
// process (target: the cookie at ≥ 0.8× the token's rate).
func BenchmarkVerifyCookie(b *testing.B) {
	ctx := context.Background()
	svc, store := testservice.New(b, testservice.Options{})
	if _, err := svc.CreateUser(ctx, auth.NewUser{Username: "alice", Password: pw}); err != nil {
		b.Fatal(err)
	}
	pair, err := svc.Login(ctx, "alice", pw, "")
	if err != nil {
		b.Fatal(err)
	}
	bs, err := svc.BrowserLogin(ctx, "alice", pw, "")
	if err != nil {
		b.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Config{Auth: svc, Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		set  func(*http.Request)
	}{
		{"token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+pair.AccessToken) }},
		{"cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "gatehouse", Value: bs.Cookie}) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/auth/verify?scope=read:items", nil)
			c.set(req)
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
