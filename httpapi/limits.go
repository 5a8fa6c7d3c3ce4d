package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
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

// KnownDeviceTTL is how long an address a user logged in from stays
// exempt from that user's per-username login limit.
const KnownDeviceTTL = 30 * 24 * time.Hour

// loginAttempt is a password login admitted by the login limits, to be
// settled once its outcome is known.
type loginAttempt struct {
	username string
	reserved bool // it took from the username's allowance
}

// checkLogin applies the login limits (contract §12; OWASP's guidance on
// account lockout), so that neither a spray across accounts nor guessing
// at one account gets far, and strangers cannot turn them against an
// account's owner:
//
//   - per client address, every attempt counts;
//   - per username, only failed attempts count: the attempt takes from the
//     username's allowance first — so concurrent guesses cannot all pass a
//     check made before any of them failed — and settleLogin gives it
//     back unless the password was wrong;
//   - an address that logged in successfully as this user within
//     KnownDeviceTTL (a known device) is exempt from the per-username
//     limit, and only from it: strangers' wrong passwords cannot keep the
//     owner out from there. From an address it never used the owner shares
//     the username's allowance with whoever is guessing, and may have to
//     wait for it; the guessers gain nothing, since only a right password
//     earns an exemption, and from a known address they would still be
//     held to its per-address limit.
//
// GCRA lets one more attempt through every period/rate, so nobody is shut
// out for long.
func (s *Server) checkLogin(w http.ResponseWriter, r *http.Request, username string) (*loginAttempt, error) {
	if err := s.checkLoginIP(w, r); err != nil {
		return nil, err
	}
	a := &loginAttempt{username: username}
	known, err := s.cfg.DeviceMarks.Marked(r.Context(), s.deviceKey(r, username), s.now())
	if err != nil {
		// The stricter limit, not a refusal: the user may still log in.
		s.log.WarnContext(r.Context(), "known-device check failed", "err", err)
	}
	if known {
		return a, nil
	}
	if err := s.allow(w, r, "login_user", s.loginUN, s.usernameLimitKey(username)); err != nil {
		return nil, err
	}
	a.reserved = true
	return a, nil
}

// settleLogin records the outcome err of a login that checkLogin admitted
// (a, nil for a second step, which took nothing): the username's
// allowance is given back unless the password was wrong, and when err is
// nil, the request's address becomes a known device of signedIn, the
// user's name ("" for none).
func (s *Server) settleLogin(r *http.Request, a *loginAttempt, err error, signedIn string) {
	ctx := r.Context()
	if a != nil && a.reserved && !auth.WrongPassword(err) {
		if rerr := s.loginUN.Refund(ctx, s.usernameLimitKey(a.username)); rerr != nil {
			s.log.WarnContext(ctx, "login limit refund failed", "err", rerr)
		}
	}
	if err == nil && signedIn != "" {
		if merr := s.cfg.DeviceMarks.Mark(ctx, s.deviceKey(r, signedIn), s.now(), KnownDeviceTTL); merr != nil {
			s.log.WarnContext(ctx, "known-device mark failed", "err", merr)
		}
	}
}

// signedInAs is the name of the user a login's pair opened a session for,
// "" when it opened none.
func signedInAs(pair *auth.TokenPair) string {
	if pair == nil || pair.User == nil {
		return ""
	}
	return pair.User.Username
}

// usernameLimitKey is the rate-limit key of a username: a keyed hash of
// its lookup key, so that a password typed into the username field never
// reaches the rate store (Redis) as typed, and every spelling of one name
// shares one limit.
func (s *Server) usernameLimitKey(username string) string {
	return "login-user:" + s.loginHash(gatehouse.UsernameKey(username))
}

// deviceKey names the pair of a username and the request's client (its
// IPv4 address or IPv6 /64) in the known-device marks, keyed like
// usernameLimitKey.
func (s *Server) deviceKey(r *http.Request, username string) string {
	return "login-device:" + s.loginHash(gatehouse.UsernameKey(username)+"\x00"+s.clientKey(r))
}

func (s *Server) loginHash(v string) string {
	m := hmac.New(sha256.New, s.cfg.LoginKey)
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// checkLoginIP is the per-address half of checkLogin, which the second
// step of a two-factor login (no username) shares.
func (s *Server) checkLoginIP(w http.ResponseWriter, r *http.Request) error {
	return s.allow(w, r, "login_ip", s.loginIP, "login-ip:"+s.clientKey(r))
}

// checkRefreshIP counts a refresh, first-party or a client's, against the
// per-address refresh limit (contract §12).
func (s *Server) checkRefreshIP(w http.ResponseWriter, r *http.Request) error {
	return s.allow(w, r, "refresh_ip", s.refreshIP, "refresh-ip:"+s.clientKey(r))
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
