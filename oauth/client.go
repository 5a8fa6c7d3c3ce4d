package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
)

// oauthError is an error of the token, introspection or revocation
// endpoints as RFC 6749 §5.2 words it.
type oauthError struct {
	status int
	code   string // "invalid_client", "invalid_grant"…
	desc   string
	basic  bool // the client authenticated with HTTP Basic: a 401 challenges that scheme
}

func (e *oauthError) Error() string { return "oauth: " + e.code + ": " + e.desc }

func badRequest(code, desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: code, desc: desc}
}

func invalidClient(desc string, basic bool) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: desc, basic: basic}
}

// writeError answers err as RFC 6749 §5.2 says, with the contract's
// "detail" beside "error" and "error_description": 400 for a refused
// grant, 401 with a challenge for invalid_client, 429 and 503 with
// Retry-After, and a logged 500 for anything unexpected, whose cause is
// never sent.
func (p *Provider) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var oe *oauthError
	var rl *auth.RateLimitError
	var ge *gatehouse.Error
	switch {
	case errors.As(err, &oe):
	case errors.As(err, &rl):
		secs := max(int64((rl.RetryAfter+time.Second-1)/time.Second), 1)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		oe = &oauthError{status: http.StatusTooManyRequests, code: "temporarily_unavailable", desc: "Rate limit exceeded"}
	case errors.As(err, &ge) && ge.Code != gatehouse.EINTERNAL:
		oe = badRequest(ge.OAuth, gatehouse.ErrorMessage(err))
		switch ge.Code {
		case gatehouse.EUNAVAILABLE:
			oe.status, oe.code = http.StatusServiceUnavailable, "temporarily_unavailable"
			w.Header().Set("Retry-After", "1")
		case gatehouse.ERATELIMIT:
			oe.status, oe.code = http.StatusTooManyRequests, "temporarily_unavailable"
			if w.Header().Get("Retry-After") == "" {
				w.Header().Set("Retry-After", "60")
			}
		}
		if oe.code == "" || oe.code == "invalid_token" {
			oe.code = "invalid_request"
		}
	default:
		p.log.ErrorContext(r.Context(), "oauth request failed", "path", r.URL.Path, "err", err)
		oe = &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "Internal server error"}
	}
	if oe.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
	writeJSON(w, oe.status, map[string]string{"detail": oe.desc, "error": oe.code, "error_description": oe.desc})
}

// Bounds on what a client sends to authenticate, far above what
// Gatehouse issues (client ids and secrets of 43 characters).
const (
	maxClientID     = 128
	maxClientSecret = 512
)

// authenticateClient authenticates the client of a token, introspection or
// revocation request (RFC 6749 §2.3): client_secret_basic — the id and
// secret form-encoded (§2.3.1) in HTTP Basic —, client_secret_post, or,
// for a public client, its client_id alone ("none"), unless confidential
// is set. Using two methods at once is invalid_request; an unknown client
// or a wrong secret is invalid_client.
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request, form url.Values, confidential bool) (*gatehouse.OAuthClient, error) {
	id, secret := form.Get("client_id"), form.Get("client_secret")
	_, hasSecret := form["client_secret"]
	basic := false
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return nil, invalidClient("Unsupported client authentication scheme", true)
		}
		if hasSecret {
			return nil, badRequest("invalid_request", "More than one client authentication method used")
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return nil, invalidClient("Malformed HTTP Basic credentials", true)
		}
		bid, bsecret, ok := strings.Cut(string(raw), ":")
		uid, err1 := url.QueryUnescape(bid)
		usecret, err2 := url.QueryUnescape(bsecret)
		if !ok || err1 != nil || err2 != nil {
			return nil, invalidClient("Malformed HTTP Basic credentials", true)
		}
		if id != "" && id != uid {
			return nil, badRequest("invalid_request", "client_id does not match the authenticated client")
		}
		id, secret, hasSecret, basic = uid, usecret, true, true
	}
	if id == "" {
		return nil, invalidClient("Client authentication required", basic)
	}
	if len(id) > maxClientID || len(secret) > maxClientSecret {
		return nil, invalidClient("Client authentication failed", basic)
	}
	c, err := p.client(ctx, id)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		HashClientSecret(secret) // about the same work as for a known client
		return nil, invalidClient("Client authentication failed", basic)
	}
	if err != nil {
		return nil, fmt.Errorf("oauth: client: %w", err)
	}
	switch {
	case c.Public && (hasSecret || confidential):
		return nil, invalidClient("Client authentication failed", basic)
	case c.Public:
		return c, nil
	case !hasSecret || !VerifyClientSecret(c, secret, p.now()):
		return nil, invalidClient("Client authentication failed", basic)
	}
	return c, nil
}

// allows reports whether the client may use grant.
func allows(c *gatehouse.OAuthClient, grant string) bool { return slices.Contains(c.Grants, grant) }

// redirectAllowed reports whether uri is one of the client's registered
// redirect URIs: exactly, or, for a loopback redirect (http to 127.0.0.1,
// [::1] or localhost), with any port (RFC 8252 §7.3).
func redirectAllowed(registered []string, uri string) bool {
	if uri == "" {
		return false
	}
	if slices.Contains(registered, uri) {
		return true
	}
	u, ok := loopback(uri)
	if !ok {
		return false
	}
	for _, reg := range registered {
		if ru, ok := loopback(reg); ok && ru.Hostname() == u.Hostname() && ru.EscapedPath() == u.EscapedPath() &&
			ru.RawQuery == u.RawQuery {
			return true
		}
	}
	return false
}

// loopback parses an http URI whose host is a loopback address or
// localhost, with nothing that makes it ambiguous.
func loopback(uri string) (*url.URL, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, false
	}
	h := u.Hostname()
	if h == "localhost" {
		return u, true
	}
	ip := net.ParseIP(h)
	return u, ip != nil && ip.IsLoopback()
}

// origin is the scheme://host[:port] of a URI, for the pages' form-action.
func origin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
