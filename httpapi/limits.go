package httpapi

import (
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/ratelimit"
)

// clientKey is the rate-limit key of the request's client: the address
// observe took from the one client-IP function (httpsec.Proxies), so
// X-Forwarded-For counts only from a trusted proxy, and limits and audit
// rows name the same client.
func (s *Server) clientKey(r *http.Request) string {
	return ratelimit.AddrKey(gatehouse.RequestInfoFrom(r.Context()).ClientAddr)
}

// allow takes one request from limiter under key. Refused, it sets
// Retry-After and the RateLimit headers, audits and counts the refusal, and
// returns the 429 error; a store failure is a 503.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, name string, l *ratelimit.Limiter, key string) error {
	res, err := l.Allow(r.Context(), key)
	if err != nil {
		return &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Rate limiter unavailable", Err: err}
	}
	ratelimit.SetHeaders(w, res)
	if res.Allowed {
		return nil
	}
	s.met.RateLimited(name)
	s.audit.Record(r.Context(), gatehouse.AuditEvent{Type: gatehouse.EventRateLimited, Outcome: gatehouse.OutcomeFailure, Detail: name})
	return errRateLimited
}

var errRateLimited = &gatehouse.Error{Code: gatehouse.ERATELIMIT, Message: "Rate limit exceeded"}

// checkLogin applies the login limit per client IP and per username, so
// neither a spray across accounts nor guessing at one account gets far.
// GCRA lets one more attempt through every period/rate, so the real owner
// is never locked out for long.
func (s *Server) checkLogin(w http.ResponseWriter, r *http.Request, username string) error {
	if err := s.checkLoginIP(w, r); err != nil {
		return err
	}
	return s.allow(w, r, "login_user", s.loginUN, "login-user:"+gatehouse.UsernameKey(username))
}

// checkLoginIP is the per-address half of checkLogin, which the second
// step of a two-factor login (no username) shares.
func (s *Server) checkLoginIP(w http.ResponseWriter, r *http.Request) error {
	return s.allow(w, r, "login_ip", s.loginIP, "login-ip:"+s.clientKey(r))
}

// limitRoute lets a request through to h only within the route's limit
// for its client, answering 429 beyond it (before any authentication).
func (s *Server) limitRoute(route string, lim *ratelimit.Limiter, h http.Handler) http.Handler {
	key := "route:" + route + ":"
	_, path, _ := strings.Cut(route, " ")
	name := strings.TrimPrefix(path, "/") // the label in metrics and audit: "limited", "items"
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.allow(w, r, name, lim, key+s.clientKey(r)); err != nil {
			return err
		}
		h.ServeHTTP(w, r)
		return nil
	})
}

// handleLimited is the guide's rate-limited example; its limit (5 a minute
// per client by default) is a route limit like any other.
func (s *Server) handleLimited(w http.ResponseWriter, r *http.Request) error {
	httperror.JSON(w, http.StatusOK, map[string]string{"message": "This endpoint is rate limited"})
	return nil
}
