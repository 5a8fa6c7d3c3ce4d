// Package oauth is Gatehouse's OAuth 2.1 authorization server and OpenID
// Connect provider (contract §13): discovery, the authorization endpoint
// with its consent page, the token endpoint's authorization_code,
// refresh_token and client_credentials grants, ID tokens, userinfo,
// introspection (RFC 7662), revocation (RFC 7009) and RP-initiated logout.
//
// It is written by hand on Gatehouse's own token path rather than over a
// provider library: every token it hands out is issued, rotated and
// revoked by package auth, so the rules of contract §3–§6 (the revocation
// mirror, refresh reuse detection, rate limits, audit, 2FA, sessions bound
// to the password that opened them) hold for OAuth logins without a
// second implementation behind a library's storage seam.
//
// One file per concern:
//
//	provider.go   Config, New, routes, discovery
//	authorize.go  /authorize: request checks, single sign-on, prompt, consent, codes
//	client.go     client authentication and redirect URI matching
//	token.go      the token endpoint's grants and their errors
//	idtoken.go    ID tokens
//	endpoints.go  /userinfo, /introspect, /revoke, end_session
package oauth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/rbac"
)

// The provider's endpoints, below the issuer.
const (
	PathAuthorize  = "/authorize"
	PathConsent    = "/authorize/consent"
	PathToken      = "/token"
	PathUserinfo   = "/userinfo"
	PathIntrospect = "/introspect"
	PathRevoke     = "/revoke"
	PathEndSession = "/end-session"
	PathJWKS       = "/.well-known/jwks.json"
)

// CodeTTL is how long an authorization code lives (contract §13: ≤ 60 s).
const CodeTTL = 60 * time.Second

// Pages is the browser side the provider needs from package web: the
// session cookie, the consent and sign-out pages, error pages, and the
// cross-origin protection of forms.
type Pages interface {
	// SessionCookie returns the browser session cookie's value, "" if none.
	SessionCookie(r *http.Request) string
	// ClearSessionCookie forgets the session cookie.
	ClearSessionCookie(w http.ResponseWriter)
	// Consent renders the consent page; formActions are the origins its
	// form's answer may redirect to (the client's redirect URI).
	Consent(w http.ResponseWriter, r *http.Request, v *ConsentView, formActions []string)
	// ConfirmLogout renders the page that asks a signed-in user whether to
	// sign out, for an end_session request without a usable id_token_hint.
	ConfirmLogout(w http.ResponseWriter, r *http.Request, v *LogoutView, formActions []string)
	// Error renders an error page.
	Error(w http.ResponseWriter, r *http.Request, status int, title, text string)
	// Protect refuses a cross-origin unsafe request before h runs, as every
	// form of the pages is protected.
	Protect(h http.Handler) http.Handler
}

// ConsentView is what the consent page shows and posts back.
type ConsentView struct {
	ClientName string
	ClientID   string
	Username   string
	Scopes     []ScopeText
	Action     string  // where the form posts
	Fields     []Field // hidden fields: the authorization request
}

// ScopeText is a scope and what it lets the client do, in words.
type ScopeText struct{ Name, Text string }

// Field is a hidden form field.
type Field struct{ Name, Value string }

// LogoutView is the sign-out confirmation page's data.
type LogoutView struct {
	ClientName string
	Action     string
	Fields     []Field
}

// Store is what the provider reads and writes: clients, codes and
// consents, and the sessions it opened (an ID token on refresh reports
// its session's authentication).
type Store interface {
	gatehouse.OAuthStore
	gatehouse.SessionInfoStore
}

// Config configures a Provider. Auth, Store, Pages and Issuer are required.
type Config struct {
	Auth   *auth.Service
	Store  Store
	Pages  Pages
	Issuer string // GATEHOUSE_PUBLIC_URL, no trailing slash
	// IDTokenAlgs are the asymmetric algorithms ID tokens may be signed
	// with, the default first (default: RS256).
	IDTokenAlgs []string
	// IDTokenTTL is an ID token's lifetime; default the access tokens'.
	IDTokenTTL time.Duration
	// ClientMissLimit bounds, per client address, the lookups of client
	// ids that name no client; default DefaultClientMissLimit.
	ClientMissLimit ratelimit.Limit
	Logger          *slog.Logger
	Now             func() time.Time
}

// Provider serves the OAuth and OpenID Connect endpoints.
type Provider struct {
	cfg       Config
	auth      *auth.Service
	store     Store
	pages     Pages
	log       *slog.Logger
	now       func() time.Time
	discovery []byte
	misses    *clientMisses // misses.go
}

// New checks cfg and returns a Provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Auth == nil || cfg.Store == nil || cfg.Pages == nil || cfg.Issuer == "" {
		return nil, errors.New("oauth: Auth, Store, Pages and Issuer are required")
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if len(cfg.IDTokenAlgs) == 0 {
		cfg.IDTokenAlgs = []string{"RS256"}
	}
	if cfg.IDTokenTTL <= 0 {
		cfg.IDTokenTTL = cfg.Auth.AccessTTL()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClientMissLimit.Rate == 0 {
		cfg.ClientMissLimit = DefaultClientMissLimit
	}
	misses, err := newClientMisses(cfg.ClientMissLimit, cfg.Now)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, auth: cfg.Auth, store: cfg.Store, pages: cfg.Pages, log: cfg.Logger, now: cfg.Now, misses: misses}
	doc, err := json.Marshal(p.metadata())
	if err != nil {
		return nil, err
	}
	p.discovery = append(doc, '\n')
	return p, nil
}

// Issuer returns the issuer identifier.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Routes registers every endpoint but the token endpoint, which the server
// owns (its password grant predates this package) and which dispatches
// the grants of this package to Token: the JSON endpoints with api, the
// ones a browser is sent to with pages.
func (p *Provider) Routes(api, pages func(pattern string, h http.Handler)) {
	api("GET /.well-known/openid-configuration", http.HandlerFunc(p.handleDiscovery))
	api("GET /.well-known/oauth-authorization-server", http.HandlerFunc(p.handleDiscovery))
	api("GET "+PathUserinfo, http.HandlerFunc(p.handleUserinfo))
	api("POST "+PathUserinfo, http.HandlerFunc(p.handleUserinfo))
	api("POST "+PathIntrospect, http.HandlerFunc(p.handleIntrospect))
	api("POST "+PathRevoke, http.HandlerFunc(p.handleRevoke))
	pages("GET "+PathAuthorize, http.HandlerFunc(p.handleAuthorize))
	pages("POST "+PathAuthorize, http.HandlerFunc(p.handleAuthorize))
	pages("POST "+PathConsent, p.pages.Protect(http.HandlerFunc(p.handleConsent)))
	pages("GET "+PathEndSession, http.HandlerFunc(p.handleEndSession))
	pages("POST "+PathEndSession, http.HandlerFunc(p.handleEndSession))
	pages("POST "+PathEndSessionConfirm, p.pages.Protect(http.HandlerFunc(p.handleEndSession)))
}

// metadata is the discovery document (OpenID Connect Discovery 1.0 §3,
// RFC 8414 §2), one for both well-known names.
func (p *Provider) metadata() map[string]any {
	iss := p.cfg.Issuer
	scopes := []string{auth.ScopeOpenID, auth.ScopeProfile, auth.ScopeEmail, auth.ScopeOfflineAccess}
	scopes = append(scopes, rbac.KnownScopes...)
	return map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + PathAuthorize,
		"token_endpoint":                                 iss + PathToken,
		"userinfo_endpoint":                              iss + PathUserinfo,
		"jwks_uri":                                       iss + PathJWKS,
		"introspection_endpoint":                         iss + PathIntrospect,
		"revocation_endpoint":                            iss + PathRevoke,
		"end_session_endpoint":                           iss + PathEndSession,
		"scopes_supported":                               scopes,
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          ClientGrants,
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          p.cfg.IDTokenAlgs,
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":               []string{"S256"},
		"authorization_response_iss_parameter_supported": true,
		"prompt_values_supported":                        []string{"none", "login", "consent"},
		"acr_values_supported":                           []string{acrSingleFactor, acrMultiFactor},
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "acr",
			"preferred_username", "name", "updated_at", "email", "email_verified"},
		"claims_parameter_supported":       false,
		"request_parameter_supported":      false,
		"request_uri_parameter_supported":  false,
		"require_request_uri_registration": false,
		"frontchannel_logout_supported":    false,
		"backchannel_logout_supported":     false,
	}
}

func (p *Provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=3600")
	w.WriteHeader(http.StatusOK)
	w.Write(p.discovery)
}

// writeJSON answers v with status, never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	httpsec.NoStore(w)
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"detail":"Internal server error","error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
