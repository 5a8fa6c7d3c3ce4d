package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Remote verifies Bearer tokens and API keys by asking a Gatehouse server's
// /auth/verify: for a Go service that holds neither Gatehouse's signing key
// nor its database. A logout, a disabled user or a revoked key is refused
// at the next request, as on Gatehouse itself; the price is one round trip
// to Gatehouse per request (it answers from memory). It implements both
// TokenAuthenticator and KeyAuthenticator:
//
//	remote, err := guard.NewRemote("http://127.0.0.1:8000", nil)
//	g := guard.New(remote, remote, logger)
//
// Gatehouse unreachable, or answering anything but 200, 401 or 403, is 503
// for the request being guarded: it fails closed.
type Remote struct {
	endpoint string
	client   *http.Client
}

var (
	_ TokenAuthenticator = (*Remote)(nil)
	_ KeyAuthenticator   = (*Remote)(nil)
)

// NewRemote returns a Remote for the Gatehouse server at base (scheme, host
// and any path prefix, e.g. "https://auth.internal"). client nil means one
// with a 5-second timeout.
//
// Redirects are never followed, whatever client's CheckRedirect says: net/http
// would carry the X-API-Key header to wherever a redirect points, even
// another host. A redirect is an answer Remote does not accept (503); give
// the https URL if Gatehouse redirects plain HTTP.
func NewRemote(base string, client *http.Client) (*Remote, error) {
	u, err := url.Parse(base)
	// No user:password@: the endpoint goes into logged errors, and Go would
	// send those credentials only on requests without an Authorization
	// header (keys, not tokens). Not echoed either: it may hold a password.
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("guard: Gatehouse URL: want http(s)://host[:port][/prefix], without user:password@")
	}
	c := http.Client{Timeout: 5 * time.Second}
	if client != nil {
		c = *client // a copy: the caller's client keeps its own redirect policy
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Remote{endpoint: strings.TrimSuffix(u.String(), "/") + "/auth/verify", client: &c}, nil
}

// Authenticate implements TokenAuthenticator.
func (rm *Remote) Authenticate(ctx context.Context, bearer string) (*gatehouse.Principal, error) {
	return rm.verify(ctx, "Authorization", "Bearer "+bearer)
}

// AuthenticateKey implements KeyAuthenticator.
func (rm *Remote) AuthenticateKey(ctx context.Context, key string) (*gatehouse.Principal, error) {
	return rm.verify(ctx, "X-API-Key", key)
}

// Verified is the body of a 200 from Gatehouse's /auth/verify: the server
// writes it and Remote reads it.
type Verified struct {
	UserID      int64          `json:"user_id"`
	Username    string         `json:"username"`
	Role        gatehouse.Role `json:"role"`
	Permissions []string       `json:"permissions"` // the role's and the user's own, sorted
	Scope       string         `json:"scope"`
	Credential  string         `json:"credential"` // "access_token" or "api_key"
	APIKeyID    *int64         `json:"api_key_id"` // nil for a token
	ExpiresAt   *time.Time     `json:"expires_at"` // nil for a key without expiry
}

// Refusal is the body of a 401 or 403 from Gatehouse's /auth/verify: the
// server writes it and Remote reads it. Error says why, for a client to
// decide on (one of the Refused… reasons); Detail says it to a human and
// may change wording.
type Refusal struct {
	Detail string `json:"detail"`
	Error  string `json:"error"`
}

// Why /auth/verify refused a request: the Error of its Refusal.
const (
	RefusedUnauthenticated   = "unauthenticated"    // 401: no credential
	RefusedInvalidToken      = "invalid_token"      // 401: a bad, expired or revoked token
	RefusedInvalidAPIKey     = "invalid_api_key"    // 403: an unknown, revoked or expired key, or one whose owner cannot use it
	RefusedInactiveUser      = "inactive_user"      // 403: the token's user is disabled
	RefusedInsufficientScope = "insufficient_scope" // 403: a scope the query asks for is missing
	RefusedForbidden         = "forbidden"          // 403: another requirement of the query (a role) is not met
)

// maxAnswer bounds what is read of Gatehouse's answer.
const maxAnswer = 64 << 10

var errUnavailable = &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Authentication server unavailable"}

func (rm *Remote) verify(ctx context.Context, header, value string) (*gatehouse.Principal, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rm.endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("guard: remote verify: %w", err)
	}
	req.Header.Set(header, value)
	res, err := rm.client.Do(req)
	if err != nil {
		// The error names the URL, never the credential (it is a header).
		return nil, &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: errUnavailable.Message, Err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return nil, &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: errUnavailable.Message, Err: err}
	}
	switch res.StatusCode {
	case http.StatusOK:
		var v Verified
		if err := json.Unmarshal(body, &v); err != nil || v.UserID == 0 || !v.Role.Valid() {
			return nil, &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: errUnavailable.Message,
				Err: fmt.Errorf("guard: unexpected answer from %s", rm.endpoint)}
		}
		p := &gatehouse.Principal{User: &gatehouse.User{ID: v.UserID, Username: v.Username, Role: v.Role,
			Permissions: v.Permissions}, Scope: v.Scope}
		if v.APIKeyID != nil {
			p.APIKeyID = *v.APIKeyID
		}
		if v.ExpiresAt != nil {
			p.ExpiresAt = *v.ExpiresAt
		}
		return p, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		var rf Refusal
		json.Unmarshal(body, &rf)
		return nil, refusal(res.StatusCode, rf)
	}
	return nil, &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: errUnavailable.Message,
		Err: fmt.Errorf("guard: %s answered %d", rm.endpoint, res.StatusCode)}
}

// refusal turns Gatehouse's 401 or 403 into the error Gatehouse's own
// routes would give, so the guarded service answers as Gatehouse does: a
// disabled user is 400 "Inactive user" again (contract §4), a revoked or
// bad token 401 with error="invalid_token". It decides on the refusal's
// reason, never on its wording.
func refusal(status int, rf Refusal) error {
	detail := rf.Detail
	if detail == "" {
		detail = http.StatusText(status)
	}
	switch {
	case status == http.StatusUnauthorized && rf.Error == RefusedInvalidToken:
		return &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_token", Message: detail}
	case status == http.StatusUnauthorized:
		return &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Message: detail}
	case rf.Error == RefusedInactiveUser:
		return &gatehouse.Error{Code: gatehouse.EINACTIVE, Message: detail}
	}
	return &gatehouse.Error{Code: gatehouse.EFORBIDDEN, Message: detail}
}
