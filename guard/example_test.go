package guard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/guard"
)

// tokens stands in for what verifies tokens in a real service: Gatehouse's
// *auth.Service, or anything else that turns a Bearer token into a
// principal.
type tokens map[string]*gatehouse.Principal

func (t tokens) Authenticate(_ context.Context, bearer string) (*gatehouse.Principal, error) {
	if p, ok := t[bearer]; ok {
		return p, nil
	}
	return nil, &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_token", Message: "Could not validate credentials"}
}

// Protecting net/http routes: Require returns ordinary
// func(http.Handler) http.Handler middleware, so it wraps any handler.
//
// The same value plugs into other routers through their net/http adapters,
// with no extra module:
//
//	// chi: middleware is func(http.Handler) http.Handler already.
//	r.With(g.Require(guard.Scopes("write:items"))).Post("/items", createItem)
//	r.Group(func(r chi.Router) {
//		r.Use(g.Require(guard.MinRole(gatehouse.RoleModerator)))
//		r.Post("/moderate", moderate)
//	})
//
//	// echo: echo.WrapMiddleware adapts it.
//	e.POST("/items", createItem, echo.WrapMiddleware(g.Require(guard.Scopes("write:items"))))
//
//	// gin: wrap the guarded handler with gin.WrapH.
//	r.POST("/items", gin.WrapH(g.Require(guard.Scopes("write:items"))(http.HandlerFunc(createItem))))
//
// In every case the handler finds the principal with
// gatehouse.PrincipalFrom(r.Context()).
func Example() {
	g := guard.New(tokens{
		"reader-token": {User: &gatehouse.User{ID: 1, Username: "alice", Role: gatehouse.RoleUser}, Scope: "read:items"},
		"writer-token": {User: &gatehouse.User{ID: 2, Username: "bob", Role: gatehouse.RoleUser}, Scope: "read:items write:items"},
	}, nil, nil)

	mux := http.NewServeMux()
	mux.Handle("POST /items", g.Require(guard.Scopes("write:items"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := gatehouse.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "item stored for %s", p.User.Username)
	})))

	for _, bearer := range []string{"", "forged", "reader-token", "writer-token"} {
		req := httptest.NewRequest("POST", "/items", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		line := fmt.Sprintf("%q: %d", bearer, w.Code)
		if h := w.Header().Get("WWW-Authenticate"); h != "" {
			line += " [" + h + "]"
		}
		fmt.Println(line, strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// "": 401 [Bearer] {"detail":"Not authenticated"}
	// "forged": 401 [Bearer error="invalid_token"] {"detail":"Could not validate credentials"}
	// "reader-token": 403 [Bearer scope="write:items", error="insufficient_scope"] {"detail":"Not enough permissions"}
	// "writer-token": 200 item stored for bob
}

// Verifying Gatehouse's tokens in a Go service, without a call to
// Gatehouse per request: the public keys from /.well-known/jwks.json,
// and the revocation stream so that a logout, or a user disabled,
// deleted or demoted, is refused here within milliseconds. The stream's
// key is an admin's API key with the read:revocations scope:
//
//	gatehouse apikey create --user admin --name my-service --scopes read:revocations
func ExampleNewJWKS() {
	const issuer = "https://auth.example.com" // Gatehouse's GATEHOUSE_PUBLIC_URL
	ctx := context.Background()

	rv, err := guard.NewRevocations(issuer, guard.RevocationsOptions{APIKey: "ghk_…"})
	if err != nil {
		panic(err)
	}
	go rv.Run(ctx)         // follows the stream, reconnecting by itself
	_ = rv.WaitSynced(ctx) // tokens get 503 until the first snapshot

	v, err := guard.NewJWKS(issuer, guard.JWKSOptions{Audience: "gatehouse", Revocations: rv})
	if err != nil {
		panic(err)
	}
	g := guard.New(v, nil, nil)

	mux := http.NewServeMux()
	mux.Handle("GET /items", g.Require(guard.Scopes("read:items"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := gatehouse.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "items of user %d", p.User.ID)
	})))
	http.ListenAndServe("127.0.0.1:8081", mux)
}
