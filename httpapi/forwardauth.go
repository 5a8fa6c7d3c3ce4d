package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/web"
)

// Forward authentication: a reverse proxy in front of another service
// (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth) asks
// /auth/verify about each request before passing it on,
// with the request's own Authorization or X-API-Key header. The answer is
// the same check Gatehouse's own routes make — signature, expiry,
// revocation, user state, key state — from memory, so a logout, a disabled
// user or a revoked key is refused at once behind the proxy too, and the
// service behind it never holds the signing key.

// Headers of a 200 from /auth/verify, for the proxy to pass on
// (oauth2-proxy's names, which proxies' examples already use).
const (
	HeaderAuthUser   = "X-Auth-Request-User"
	HeaderAuthUserID = "X-Auth-Request-User-Id"
	HeaderAuthRole   = "X-Auth-Request-Role"
	HeaderAuthScope  = "X-Auth-Request-Scope"
)

// verifyMethods are the methods /auth/verify answers. nginx, Traefik and
// Caddy ask with GET; a proxy set up to pass the guarded request's method
// on must not get a 405, which it would read as an error.
var verifyMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

func (s *Server) routesForwardAuth() {
	h := s.wrap(s.handleVerify)
	for _, m := range verifyMethods {
		s.handle(m+" /auth/verify", h)
	}
}

// handleVerify answers 200 with who the request's credential acts for when
// it is valid and meets the query's requirements (?scope=, space-separated,
// all needed; ?role=, the least role), 401 or 403 otherwise. Only those
// three statuses answer the credential (nginx treats anything else as an
// error), so a disabled user is 403 here, not the 400 of /users/me; a bad
// query is 422 and an unreachable store 503: both fail closed.
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) error {
	httpsec.NoStore(w)
	reqs, err := s.verifyReqs.get(r.URL.RawQuery)
	if err != nil {
		return err
	}
	p, err := s.browser.Principal(r)
	if err != nil && gatehouse.ErrorCode(err) == gatehouse.EUNAUTHENTICATED && s.portal(w, r) {
		return nil
	}
	if err != nil {
		return refused(err, false)
	}
	if err := s.browser.Authorize(r, p, reqs...); err != nil {
		return refused(err, true)
	}
	u := p.User
	h := w.Header()
	h.Set(HeaderAuthUser, u.Username)
	h.Set(HeaderAuthUserID, strconv.FormatInt(u.ID, 10))
	h.Set(HeaderAuthRole, string(u.Role))
	h.Set(HeaderAuthScope, p.Scope)
	v := guard.Verified{UserID: u.ID, Username: u.Username, Role: u.Role, Permissions: rbac.EffectivePermissions(u),
		Scope: p.Scope, Credential: "access_token"}
	if v.Permissions == nil {
		v.Permissions = []string{} // [] in JSON, as /users/me
	}
	if p.APIKeyID != 0 {
		v.Credential, v.APIKeyID = "api_key", &p.APIKeyID
	}
	if auth.IsBrowser(p) {
		v.Credential = "session"
	}
	if !p.ExpiresAt.IsZero() {
		t := p.ExpiresAt.UTC().Truncate(time.Second)
		v.ExpiresAt = &t
	}
	httperror.JSON(w, http.StatusOK, v)
	return nil
}

// refused is the answer to a request /auth/verify refuses: a disabled user
// is 403 here, and each refusal says why in the body's "error" field
// (guard.Refusal), so that a client decides on the reason, not on the
// wording. authenticated tells a principal refused by the query's
// requirements from a credential refused. Other failures (an unreachable
// store) are answered as anywhere else.
func refused(err error, authenticated bool) error {
	var reason string
	switch code := gatehouse.ErrorCode(err); {
	case code == gatehouse.EINACTIVE:
		err = &gatehouse.Error{Code: gatehouse.EFORBIDDEN, Message: gatehouse.ErrorMessage(err), Err: err}
		reason = guard.RefusedInactiveUser
	case code == gatehouse.EUNAUTHENTICATED && oauthCode(err) == "invalid_token":
		reason = guard.RefusedInvalidToken
	case code == gatehouse.EUNAUTHENTICATED:
		reason = guard.RefusedUnauthenticated
	case errors.Is(err, web.ErrCrossOrigin):
		reason = guard.RefusedForbidden
	case code == gatehouse.EFORBIDDEN && !authenticated:
		reason = guard.RefusedInvalidAPIKey
	case code == gatehouse.EFORBIDDEN && oauthCode(err) == "insufficient_scope":
		reason = guard.RefusedInsufficientScope
	case code == gatehouse.EFORBIDDEN:
		reason = guard.RefusedForbidden
	default:
		return err
	}
	return httperror.WithReason(err, reason)
}

// oauthCode returns the RFC 6749/6750 error code err carries, if any.
func oauthCode(err error) string {
	var e *gatehouse.Error
	if errors.As(err, &e) {
		return e.OAuth
	}
	return ""
}

// verifyCache keeps the requirements parsed from the few query strings a
// proxy's configuration uses, so the hot path parses none. Bounded: past
// maxVerifyQueries distinct queries, or for one longer than
// maxVerifyQueryLen, the query is parsed every time.
type verifyCache struct {
	m sync.Map // raw query → []guard.Requirement
	n atomic.Int64
}

const (
	maxVerifyQueries  = 256
	maxVerifyQueryLen = 256
)

func (c *verifyCache) get(raw string) ([]guard.Requirement, error) {
	if raw == "" {
		return nil, nil
	}
	if v, ok := c.m.Load(raw); ok {
		return v.([]guard.Requirement), nil
	}
	reqs, err := verifyRequirements(raw)
	if err == nil && len(raw) <= maxVerifyQueryLen && c.n.Load() < maxVerifyQueries {
		if _, loaded := c.m.LoadOrStore(raw, reqs); !loaded {
			c.n.Add(1)
		}
	}
	return reqs, err
}

// verifyRequirements parses the requirements of a /auth/verify query.
// Unknown parameters, scopes or roles are 422: a typo in a proxy's
// configuration (?scopes=admin) must not quietly require nothing.
func verifyRequirements(raw string) ([]guard.Requirement, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, gatehouse.Invalid([]string{"query"}, "Malformed query string", "value_error")
	}
	for name, v := range q {
		if name == "redirect" { // the portal's switch (contract §11), read by portal
			if len(v) != 1 || v[0] != "1" {
				return nil, gatehouse.Invalid([]string{"query", "redirect"}, "Give redirect=1, or leave it out", "value_error")
			}
			continue
		}
		if name != "scope" && name != "role" {
			return nil, gatehouse.Invalid([]string{"query", name}, "Unknown parameter; only scope, role and redirect are understood", "value_error")
		}
	}
	var reqs []guard.Requirement
	if v, ok := q["scope"]; ok {
		// Every scope parameter must name a scope (contract §12): ?scope=,
		// ?scope and ?scope=%20 are what a proxy sends when a template
		// variable is unset, and must not quietly require nothing; nor
		// may an empty one hide among others (?scope=a&scope=).
		var scopes []string
		for _, s := range v {
			f := strings.Fields(s)
			if len(f) == 0 {
				return nil, gatehouse.Invalid([]string{"query", "scope"}, "Give at least one scope, space-separated", "value_error")
			}
			scopes = append(scopes, f...)
		}
		for _, sc := range scopes {
			if !slices.Contains(rbac.KnownScopes, sc) {
				return nil, gatehouse.Invalid([]string{"query", "scope"}, "Unknown scope "+strconv.Quote(sc), "value_error")
			}
		}
		reqs = append(reqs, guard.Scopes(scopes...))
	}
	if v, ok := q["role"]; ok {
		// Exactly one known role: ?role=&role=admin or ?role=user&role=admin
		// must not quietly require less than the operator meant.
		if len(v) != 1 || !gatehouse.Role(v[0]).Valid() {
			return nil, gatehouse.Invalid([]string{"query", "role"}, "Give one role: user, moderator or admin", "value_error")
		}
		reqs = append(reqs, guard.MinRole(gatehouse.Role(v[0])))
	}
	return reqs, nil
}
