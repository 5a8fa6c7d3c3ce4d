package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/rbac"
)

// The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2, contract
// §13). A request is checked in two stages: until its client and
// redirect URI are known good, a refusal is an error page and never a
// redirect (RFC 6749 §4.1.2.1); after, every refusal goes back to the
// client with error, state and iss (RFC 9207).
//
// Single sign-on: the browser session of the login page serves every
// client. Without one (or when prompt=login or max_age asks for a fresh
// login) the browser goes to /login with the request as its rd and comes
// back. prompt=login and an exceeded max_age become loginAfter, a time the
// session must have been opened at or after, so that the login they ask
// for is not asked for again when the browser comes back.

// Parameters of an authorization request kept across the login and the
// consent page; anything else is ignored (OIDC Core §3.1.2.1).
var authzParams = []string{"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "max_age", "login_hint", paramLoginAfter}

// paramLoginAfter is the provider's own parameter: the Unix time the
// browser session must have been opened at or after.
const paramLoginAfter = "gh_login_after"

// Bounds on what a request may carry: the whole request must fit in the
// login page's rd (2 KiB), so each value is bounded well below that.
const (
	maxParamLen  = 1024
	maxRequestRD = 2000
)

// authzRequest is a checked authorization request.
type authzRequest struct {
	client      *gatehouse.OAuthClient
	redirectURI string // as sent; "" when the client's only URI was meant
	target      string // where answers go
	params      url.Values
	state       string
	nonce       string
	scope       string // as asked for
	challenge   string
	prompt      []string
	maxAge      int64 // -1: none
	loginHint   string
	loginAfter  int64 // Unix seconds; 0: none
}

func (a *authzRequest) prompts(v string) bool { return slices.Contains(a.prompt, v) }

// authzError is a refusal sent back to the client's redirect URI.
type authzError struct{ code, desc string }

func (e *authzError) Error() string { return "oauth: authorize: " + e.code + ": " + e.desc }

// pageError is a refusal shown as an error page: the client or its
// redirect URI cannot be trusted with it.
type pageError struct{ title, text string }

func (e *pageError) Error() string { return "oauth: authorize: " + e.title }

// requestParams reads the request's parameters: the query of a GET, the
// form body of a POST (OIDC Core §3.1.2.1). A parameter sent twice is
// reported by name.
func requestParams(r *http.Request) (url.Values, string, error) {
	var q url.Values
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			return nil, "", err
		}
		q = r.PostForm
	} else {
		q = r.URL.Query()
	}
	for k, v := range q {
		if len(v) > 1 {
			return q, k, nil
		}
	}
	return q, "", nil
}

func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q, dup, err := requestParams(r)
	if err != nil {
		p.pages.Error(w, r, http.StatusBadRequest, "Invalid request", "The authorization request could not be read.")
		return
	}
	req, err := p.parseAuthorize(r.Context(), q, dup)
	if err != nil {
		p.refuse(w, r, req, err)
		return
	}
	p.authorize(w, r, req)
}

// refuse answers a refused request: an error page, or a redirect back to
// the client.
func (p *Provider) refuse(w http.ResponseWriter, r *http.Request, req *authzRequest, err error) {
	switch e := err.(type) {
	case *pageError:
		p.pages.Error(w, r, http.StatusBadRequest, e.title, e.text)
	case *authzError:
		p.redirect(w, r, req, url.Values{"error": {e.code}, "error_description": {e.desc}})
	default:
		var rl *auth.RateLimitError
		if errors.As(err, &rl) {
			p.tooMany(w, r, rl)
			return
		}
		p.log.ErrorContext(r.Context(), "authorization request failed", "err", err)
		if req != nil && req.target != "" {
			p.redirect(w, r, req, url.Values{"error": {"server_error"}, "error_description": {"Internal server error"}})
			return
		}
		p.pages.Error(w, r, http.StatusInternalServerError, "Something went wrong", "The server could not complete this request. Try again in a moment.")
	}
}

// tooMany answers a request over a limit with an error page: 429 and
// Retry-After.
func (p *Provider) tooMany(w http.ResponseWriter, r *http.Request, rl *auth.RateLimitError) {
	w.Header().Set("Retry-After", strconv.FormatInt(max(int64((rl.RetryAfter+time.Second-1)/time.Second), 1), 10))
	p.pages.Error(w, r, http.StatusTooManyRequests, "Too many requests", "Wait a moment, then try again.")
}

// redirect sends the browser back to the client with the answer in v, the
// request's state and the issuer (RFC 9207).
func (p *Provider) redirect(w http.ResponseWriter, r *http.Request, req *authzRequest, v url.Values) {
	if req.state != "" {
		v.Set("state", req.state)
	}
	v.Set("iss", p.cfg.Issuer)
	to := req.target
	if strings.Contains(to, "?") {
		to += "&" + v.Encode()
	} else {
		to += "?" + v.Encode()
	}
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther // the browser must not post again (OAuth 2.1 §7.5.2)
	}
	w.Header().Set("Location", to)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}

// parseAuthorize checks an authorization request. The returned request is
// non-nil once its redirect target is known, even with an error.
func (p *Provider) parseAuthorize(ctx context.Context, q url.Values, dup string) (*authzRequest, error) {
	id := q.Get("client_id")
	if id == "" || len(id) > maxClientID {
		return nil, &pageError{"Invalid request", "The application that sent you here did not say who it is (client_id)."}
	}
	c, err := p.client(ctx, id)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, &pageError{"Unknown application", "The application that sent you here is not registered with this server."}
	}
	if err != nil {
		return nil, fmt.Errorf("oauth: authorize: client: %w", err)
	}
	req := &authzRequest{client: c, redirectURI: q.Get("redirect_uri"), maxAge: -1}
	switch {
	case dup == "client_id" || dup == "redirect_uri":
		return nil, &pageError{"Invalid request", "The authorization request repeats a parameter."}
	case req.redirectURI == "" && len(c.RedirectURIs) == 1:
		req.target = c.RedirectURIs[0]
	case !redirectAllowed(c.RedirectURIs, req.redirectURI):
		return nil, &pageError{"Invalid redirect address",
			"The application asked to send you back to an address it has not registered, so you were not sent there."}
	default:
		req.target = req.redirectURI
	}
	// From here on, refusals go back to the client.
	if len(q["state"]) == 1 {
		req.state = q.Get("state")
	}
	if dup != "" {
		return req, &authzError{"invalid_request", "Parameter " + dup + " is repeated"}
	}
	for _, k := range authzParams {
		if len(q.Get(k)) > maxParamLen {
			return req, &authzError{"invalid_request", "Parameter " + k + " is too long"}
		}
	}
	switch {
	case q.Has("request"):
		return req, &authzError{"request_not_supported", "Request objects are not supported"}
	case q.Has("request_uri"):
		return req, &authzError{"request_uri_not_supported", "request_uri is not supported"}
	case q.Get("response_type") == "":
		return req, &authzError{"invalid_request", "response_type is required"}
	case q.Get("response_type") != "code":
		return req, &authzError{"unsupported_response_type", "Only response_type=code is supported"}
	case q.Get("response_mode") != "" && q.Get("response_mode") != "query":
		return req, &authzError{"invalid_request", "Only response_mode=query is supported"}
	case !allows(c, gatehouse.GrantAuthorizationCode):
		return req, &authzError{"unauthorized_client", "This client may not use the authorization code grant"}
	case q.Get("code_challenge") == "":
		return req, &authzError{"invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256"}
	case q.Get("code_challenge_method") != "S256":
		return req, &authzError{"invalid_request", "Only code_challenge_method=S256 is supported"}
	case !validChallenge(q.Get("code_challenge")):
		return req, &authzError{"invalid_request", "code_challenge must be the base64url SHA-256 of the verifier (43 characters)"}
	}
	req.nonce, req.scope, req.challenge, req.loginHint = q.Get("nonce"), q.Get("scope"), q.Get("code_challenge"), q.Get("login_hint")
	req.prompt = strings.Fields(q.Get("prompt"))
	for _, v := range req.prompt {
		if v != "none" && v != "login" && v != "consent" && v != "select_account" {
			return req, &authzError{"invalid_request", "Unknown prompt value"}
		}
	}
	if req.prompts("none") && len(req.prompt) > 1 {
		return req, &authzError{"invalid_request", "prompt=none cannot be combined with other values"}
	}
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return req, &authzError{"invalid_request", "max_age must be a non-negative number of seconds"}
		}
		req.maxAge = n
	}
	if v := q.Get(paramLoginAfter); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > p.now().Add(time.Minute).Unix() { // a future time no login could meet
			return req, &authzError{"invalid_request", "Malformed " + paramLoginAfter}
		}
		req.loginAfter = n
	}
	req.params = url.Values{}
	for _, k := range authzParams {
		if v := q.Get(k); v != "" {
			req.params.Set(k, v)
		}
	}
	if len(req.params.Encode()) > maxRequestRD {
		return req, &authzError{"invalid_request", "The authorization request is too long"}
	}
	return req, nil
}

// validChallenge accepts a base64url SHA-256: 43 characters, no padding.
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// authorize serves a checked request: a login if one is needed, the
// consent page if consent is, else a code.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request, req *authzRequest) {
	ctx := r.Context()
	b, u, err := p.browserSession(r)
	if err != nil {
		p.refuse(w, r, req, err)
		return
	}
	now := p.now().Unix()
	fresh := b != nil && req.loginAfter > 0 && b.IssuedAt.Unix() >= req.loginAfter
	forced := req.prompts("login") ||
		b != nil && req.maxAge >= 0 && now-b.IssuedAt.Unix() > req.maxAge && !fresh ||
		b != nil && req.loginAfter > 0 && !fresh
	if b == nil || forced {
		if req.prompts("none") {
			p.refuse(w, r, req, &authzError{"login_required", "The user is not signed in"})
			return
		}
		// With max_age, the login about to happen is the one that counts,
		// however long it takes.
		p.toLogin(w, r, req, forced || req.maxAge >= 0, now)
		return
	}
	granted := p.grantScopes(req.client, req.scope, u)
	if !req.client.FirstParty {
		need := req.prompts("consent")
		if !need {
			c, err := p.store.Consent(ctx, u.ID, req.client.ID)
			switch {
			case gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND:
				need = true
			case err != nil:
				p.refuse(w, r, req, fmt.Errorf("oauth: consent: %w", err))
				return
			default:
				need = !covers(c.Scope, granted)
			}
		}
		if need && req.prompts("none") {
			p.refuse(w, r, req, &authzError{"consent_required", "The user has not approved this client"})
			return
		}
		if need {
			p.showConsent(w, r, req, u, granted)
			return
		}
	}
	p.issueCode(w, r, req, b, u, granted)
}

// browserSession returns the request's browser session and its user, nil
// when it has none that is valid.
func (p *Provider) browserSession(r *http.Request) (*auth.BrowserSession, *gatehouse.User, error) {
	cookie := p.pages.SessionCookie(r)
	if cookie == "" {
		return nil, nil, nil
	}
	b, u, err := p.auth.OAuthBrowser(r.Context(), cookie)
	switch gatehouse.ErrorCode(err) {
	case "":
		return b, u, nil
	case gatehouse.EUNAUTHENTICATED, gatehouse.EINACTIVE:
		return nil, nil, nil
	}
	return nil, nil, err
}

// toLogin sends the browser to the login page, to come back with the
// request. A login forced by prompt=login or max_age is recorded as
// loginAfter, and the login page shows its form even to a signed-in
// browser.
func (p *Provider) toLogin(w http.ResponseWriter, r *http.Request, req *authzRequest, forced bool, now int64) {
	params := cloneValues(req.params)
	if forced {
		if req.loginAfter == 0 {
			params.Set(paramLoginAfter, strconv.FormatInt(now, 10))
		}
		params.Set("prompt", strings.Join(slices.DeleteFunc(slices.Clone(req.prompt), func(v string) bool { return v == "login" }), " "))
		if params.Get("prompt") == "" {
			params.Del("prompt")
		}
	}
	login := url.Values{"rd": {PathAuthorize + "?" + params.Encode()}}
	if forced {
		login.Set("prompt", "login")
	}
	if req.loginHint != "" {
		login.Set("login_hint", req.loginHint)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/login?"+login.Encode(), http.StatusSeeOther)
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = slices.Clone(vs)
	}
	return c
}

// grantScopes returns the scopes to grant of those asked for: the ones the
// client may ask for (all when it registered none), OpenID Connect ones
// freely — offline_access only to a client allowed refresh tokens — and
// API scopes the user's role allows. Unknown scopes are left out. A
// request without scope asks for openid.
func (p *Provider) grantScopes(c *gatehouse.OAuthClient, requested string, u *gatehouse.User) string {
	asked := strings.Fields(requested)
	if len(asked) == 0 {
		asked = []string{auth.ScopeOpenID}
	}
	var out []string
	for _, s := range asked {
		if slices.Contains(out, s) || len(c.Scopes) > 0 && !slices.Contains(c.Scopes, s) {
			continue
		}
		ok := auth.IsOIDCScope(s) && (s != auth.ScopeOfflineAccess || allows(c, gatehouse.GrantRefreshToken)) ||
			u != nil && rbac.AllowsScope(u.Role, s)
		if ok {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// covers reports whether every scope of want is in have.
func covers(have, want string) bool {
	for _, s := range strings.Fields(want) {
		if !gatehouse.HasScope(have, s) {
			return false
		}
	}
	return true
}

var scopeTexts = map[string]string{
	auth.ScopeOpenID:               "Know who you are on this server",
	auth.ScopeProfile:              "See your username and full name",
	auth.ScopeEmail:                "See your email address",
	auth.ScopeOfflineAccess:        "Keep access while you are away, until you sign it out",
	gatehouse.ScopeReadItems:       "Read your items",
	gatehouse.ScopeWriteItems:      "Create and change your items",
	gatehouse.ScopeAdmin:           "Act as an administrator, with your permissions",
	gatehouse.ScopeReadRevocations: "Follow the stream of revoked sessions and tokens",
}

// showConsent renders the consent page for the scopes to grant.
func (p *Provider) showConsent(w http.ResponseWriter, r *http.Request, req *authzRequest, u *gatehouse.User, granted string) {
	v := &ConsentView{ClientName: req.client.Name, ClientID: req.client.ID, Username: u.Username, Action: PathConsent}
	for _, s := range strings.Fields(granted) {
		v.Scopes = append(v.Scopes, ScopeText{Name: s, Text: scopeTexts[s]})
	}
	for _, k := range authzParams {
		if val := req.params.Get(k); val != "" && k != paramLoginAfter {
			if k == "prompt" { // answered by this page
				val = strings.Join(slices.DeleteFunc(slices.Clone(req.prompt), func(v string) bool { return v == "consent" || v == "login" }), " ")
				if val == "" {
					continue
				}
			}
			v.Fields = append(v.Fields, Field{Name: k, Value: val})
		}
	}
	p.pages.Consent(w, r, v, []string{origin(req.target)})
}

// handleConsent takes the consent page's answer: consent=allow records the
// consent and issues a code, consent=deny tells the client access_denied.
// The page's cross-origin protection ran before it.
func (p *Provider) handleConsent(w http.ResponseWriter, r *http.Request) {
	q, dup, err := requestParams(r)
	if err != nil {
		p.pages.Error(w, r, http.StatusBadRequest, "Invalid request", "The form could not be read.")
		return
	}
	answer := q.Get("consent")
	q.Del("consent")
	req, err := p.parseAuthorize(r.Context(), q, dup)
	if err != nil {
		p.refuse(w, r, req, err)
		return
	}
	b, u, err := p.browserSession(r)
	if err != nil {
		p.refuse(w, r, req, err)
		return
	}
	if b == nil {
		p.toLogin(w, r, req, false, p.now().Unix())
		return
	}
	switch answer {
	case "allow":
	case "deny":
		p.refuse(w, r, req, &authzError{"access_denied", "The user denied the request"})
		return
	default:
		p.pages.Error(w, r, http.StatusBadRequest, "Invalid request", "Choose Allow or Deny.")
		return
	}
	granted := p.grantScopes(req.client, req.scope, u)
	scope := granted
	if c, err := p.store.Consent(r.Context(), u.ID, req.client.ID); err == nil {
		scope = union(c.Scope, granted)
	}
	if err := p.store.SetConsent(r.Context(), &gatehouse.Consent{UserID: u.ID, ClientID: req.client.ID, Scope: scope, GrantedAt: p.now()}); err != nil {
		p.refuse(w, r, req, fmt.Errorf("oauth: store consent: %w", err))
		return
	}
	p.issueCode(w, r, req, b, u, granted)
}

func union(a, b string) string {
	out := strings.Fields(a)
	for _, s := range strings.Fields(b) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// issueCode stores an authorization code for the request and sends it to
// the client. Only the code's hash is stored.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, req *authzRequest, b *auth.BrowserSession, u *gatehouse.User, granted string) {
	code := newCode()
	now := p.now()
	ac := &gatehouse.AuthCode{Hash: hashCode(code), ClientID: req.client.ID, UserID: u.ID, BrowserSID: b.ID,
		RedirectURI: req.redirectURI, Scope: granted, Nonce: req.nonce, CodeChallenge: req.challenge,
		AuthTime: b.IssuedAt, AMR: b.AMR, CreatedAt: now, ExpiresAt: now.Add(CodeTTL)}
	if err := p.store.CreateAuthCode(r.Context(), ac); err != nil {
		p.refuse(w, r, req, fmt.Errorf("oauth: store code: %w", err))
		return
	}
	p.redirect(w, r, req, url.Values{"code": {code}})
}

// newCode returns a fresh authorization code: 256 random bits.
func newCode() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashCode is the stored form of a code: its 256 random bits make a fast
// hash as strong as a slow one.
func hashCode(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// FormActions returns, for a login page returning to rd, the origin of the
// client's redirect URI when rd is an authorization request with a
// registered one: the login's answer redirects to rd, which redirects
// there, and the page's form-action must allow it (web.Config).
func (p *Provider) FormActions(ctx context.Context, rd string) []string {
	u, err := url.Parse(rd)
	if err != nil || u.Path != PathAuthorize || u.Host != "" && p.cfg.Issuer != u.Scheme+"://"+u.Host {
		return nil
	}
	q := u.Query()
	req, err := p.parseAuthorize(ctx, q, "")
	if req == nil || req.target == "" {
		return nil
	}
	_ = err // a request refused later still redirects to its client
	return []string{origin(req.target)}
}
