// Package guard is net/http middleware that authenticates a request — a
// Bearer access token (RFC 6750) or an X-API-Key header — and authorises it
// against required scopes, a minimum role or permissions. The principal it
// establishes is in the request's context (gatehouse.PrincipalFrom).
//
// Gatehouse's own server protects every route with it, and any Go service
// can too: it needs only something that turns a token into a principal.
package guard

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/rbac"
)

// TokenAuthenticator verifies a Bearer access token.
type TokenAuthenticator interface {
	Authenticate(ctx context.Context, bearer string) (*gatehouse.Principal, error)
}

// KeyAuthenticator verifies an API key.
type KeyAuthenticator interface {
	AuthenticateKey(ctx context.Context, key string) (*gatehouse.Principal, error)
}

// Guard authenticates and authorises requests.
type Guard struct {
	tokens TokenAuthenticator
	keys   KeyAuthenticator // nil: API keys are not accepted
	log    *slog.Logger
	// OnError answers a refused request; it defaults to httperror.Write.
	OnError func(w http.ResponseWriter, r *http.Request, err error)
	// OnDenied, if set, is told of each authenticated principal that a
	// requirement refused (a missing scope, role or permission) before
	// the refusal is answered: the place to audit authorisation failures,
	// apart from failures to authenticate.
	OnDenied func(r *http.Request, p *gatehouse.Principal, err error)
	// Fallback, if set, authenticates a request that presents neither a
	// Bearer token nor an API key: a browser's session cookie, say. It
	// returns an EUNAUTHENTICATED error when the request has nothing it
	// recognises either.
	Fallback func(r *http.Request) (*gatehouse.Principal, error)
}

// New returns a Guard that accepts Bearer tokens, and API keys when keys is
// not nil.
func New(tokens TokenAuthenticator, keys KeyAuthenticator, log *slog.Logger) *Guard {
	g := &Guard{tokens: tokens, keys: keys, log: log}
	g.OnError = func(w http.ResponseWriter, r *http.Request, err error) { httperror.Write(w, r, g.log, err) }
	return g
}

// A Requirement is one condition a principal must meet.
type Requirement func(*gatehouse.Principal) error

// Scopes requires every named OAuth2 scope on the token or key; a missing
// one is 403 insufficient_scope naming them all (RFC 6750 §3.1).
func Scopes(scopes ...string) Requirement {
	want := strings.Join(scopes, " ")
	return func(p *gatehouse.Principal) error {
		for _, s := range scopes {
			if !p.HasScope(s) {
				return &gatehouse.Error{Code: gatehouse.EFORBIDDEN, OAuth: "insufficient_scope", Scope: want, Message: "Not enough permissions"}
			}
		}
		return nil
	}
}

// MinRole requires the user's role to be at least role.
func MinRole(role gatehouse.Role) Requirement {
	return func(p *gatehouse.Principal) error {
		if !p.User.Role.AtLeast(role) {
			return gatehouse.Errorf(gatehouse.EFORBIDDEN, "Access denied. Required role: %s", role)
		}
		return nil
	}
}

// Permission requires the user to hold perm.
func Permission(perm string) Requirement {
	return func(p *gatehouse.Principal) error {
		if !rbac.HasPermission(p.User, perm) {
			return gatehouse.Errorf(gatehouse.EFORBIDDEN, "Insufficient permissions")
		}
		return nil
	}
}

var (
	errNoCredentials = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Message: "Not authenticated"}
	errNoKey         = &gatehouse.Error{Code: gatehouse.EFORBIDDEN, Message: "API key required"}
)

// BearerToken returns the token of an "Authorization: Bearer" header (the
// scheme is case-insensitive, RFC 9110 §11.1), or "".
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimLeft(h[7:], " ")
	}
	return ""
}

// Principal authenticates r: a Bearer token when one is presented,
// otherwise an API key when the guard accepts them, otherwise Fallback
// when set.
func (g *Guard) Principal(r *http.Request) (*gatehouse.Principal, error) {
	if tok := BearerToken(r); tok != "" {
		return g.tokens.Authenticate(r.Context(), tok)
	}
	if g.keys != nil {
		if key := r.Header.Get("X-API-Key"); key != "" {
			return g.keys.AuthenticateKey(r.Context(), key)
		}
	}
	if g.Fallback != nil {
		return g.Fallback(r)
	}
	return nil, errNoCredentials
}

// Require returns middleware that lets a request through only when it
// authenticates and meets every requirement.
func (g *Guard) Require(reqs ...Requirement) func(http.Handler) http.Handler {
	return g.require(g.Principal, reqs)
}

// RequireKey is Require for routes that take only an API key (the guide's
// /protected): the X-API-Key header is the credential whatever else is
// sent, and a request without one is 403 "API key required".
func (g *Guard) RequireKey(reqs ...Requirement) func(http.Handler) http.Handler {
	return g.require(g.keyPrincipal, reqs)
}

func (g *Guard) keyPrincipal(r *http.Request) (*gatehouse.Principal, error) {
	key := r.Header.Get("X-API-Key")
	if key == "" || g.keys == nil {
		return nil, errNoKey
	}
	return g.keys.AuthenticateKey(r.Context(), key)
}

// Check authenticates r (Principal) and checks reqs, as Require does, but
// returns the outcome instead of answering: for a handler that answers
// itself, such as a forward-auth endpoint.
func (g *Guard) Check(r *http.Request, reqs ...Requirement) (*gatehouse.Principal, error) {
	return g.check(g.Principal, r, reqs)
}

// Authorize checks reqs for p, authenticated from r, and tells OnDenied
// of a refusal: the second half of Check, for a caller that must tell a
// credential refused from a principal refused.
func (g *Guard) Authorize(r *http.Request, p *gatehouse.Principal, reqs ...Requirement) error {
	for _, req := range reqs {
		if err := req(p); err != nil {
			if g.OnDenied != nil {
				g.OnDenied(r, p, err)
			}
			return err
		}
	}
	return nil
}

func (g *Guard) check(authenticate func(*http.Request) (*gatehouse.Principal, error), r *http.Request, reqs []Requirement) (*gatehouse.Principal, error) {
	p, err := authenticate(r)
	if err != nil {
		return nil, err
	}
	if err := g.Authorize(r, p, reqs...); err != nil {
		return nil, err
	}
	return p, nil
}

func (g *Guard) require(authenticate func(*http.Request) (*gatehouse.Principal, error), reqs []Requirement) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := g.check(authenticate, r, reqs)
			if err != nil {
				g.OnError(w, r, err)
				return
			}
			if gatehouse.SetPrincipal(r.Context(), p) {
				next.ServeHTTP(w, r) // no request copy on the hot path
				return
			}
			next.ServeHTTP(w, r.WithContext(gatehouse.NewContext(r.Context(), p)))
		})
	}
}
