package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/rbac"
)

// Client registration rules (contract §13): what a client may be, its
// generated id and secrets, how a secret is checked and rotated, and the
// ClientManager that the admin API, the CLI and the admin page share.

// Bounds of a client's registration.
const (
	ClientNameMax          = 100  // characters
	ClientURIMax           = 2000 // bytes, each redirect URI
	ClientURIsMax          = 20   // redirect URIs, and post-logout redirect URIs, each
	clientListMax          = 64   // grants or scopes listed, repeats included
	clientIDLen            = 22   // [A-Za-z0-9]: 130 bits
	clientSecretLen        = 44   // [A-Za-z0-9]: 261 bits
	ClientSecretsKept      = 3    // the new secret and at most two old ones still in their overlap
	ClientSecretOverlap    = 24 * time.Hour
	ClientSecretOverlapMax = 30 * 24 * time.Hour
)

// ClientGrants are the grants a client may be allowed.
var ClientGrants = []string{gatehouse.GrantAuthorizationCode, gatehouse.GrantRefreshToken, gatehouse.GrantClientCredentials}

// DefaultClientGrants are the grants of a client registered without a
// list: the authorization code flow and its refresh tokens.
var DefaultClientGrants = []string{gatehouse.GrantAuthorizationCode, gatehouse.GrantRefreshToken}

// ClientScopes are the scopes a client may be allowed: OpenID Connect's and
// the API scopes of contract §4.
var ClientScopes = append([]string{"openid", "profile", "email", "offline_access"}, rbac.KnownScopes...)

// clientIDTokenAlgs maps the ID token algorithms a client may register to
// their stored form: "" stands for RS256, the default (OIDC Core §15.1).
var clientIDTokenAlgs = map[string]string{"": "", "RS256": "", "ES256": "ES256", "EdDSA": "EdDSA"}

// ClientSpec is a client as an administrator describes it: POST /clients,
// `gatehouse client create`, the admin page's form.
type ClientSpec struct {
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Public                 bool
	FirstParty             bool
	Grants                 []string // nil: DefaultClientGrants
	Scopes                 []string // empty: every scope
	IDTokenAlg             string   // "", RS256, ES256 or EdDSA
}

// ClientChange is a change to a client (PATCH /clients/{id}): nil fields
// stay as they are. Whether a client is public is fixed at registration.
type ClientChange struct {
	Name                   *string
	RedirectURIs           *[]string
	PostLogoutRedirectURIs *[]string
	Grants                 *[]string
	Scopes                 *[]string
	FirstParty             *bool
	IDTokenAlg             *string
}

// NewClient checks spec and returns the client it describes, with a new
// id, created at now, and for a confidential client its first secret,
// which only its hash is kept of: the caller shows it once.
func NewClient(spec ClientSpec, now time.Time) (*gatehouse.OAuthClient, string, error) {
	c := &gatehouse.OAuthClient{
		ID:                     clientRandom(clientIDLen),
		Name:                   spec.Name,
		Public:                 spec.Public,
		FirstParty:             spec.FirstParty,
		RedirectURIs:           spec.RedirectURIs,
		PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs,
		Grants:                 spec.Grants,
		Scopes:                 spec.Scopes,
		IDTokenAlg:             spec.IDTokenAlg,
	}
	if c.Grants == nil {
		c.Grants = slices.Clone(DefaultClientGrants)
	}
	if err := CheckClient(c); err != nil {
		return nil, "", err
	}
	var secret string
	if !c.Public {
		secret = clientRandom(clientSecretLen)
		c.Secrets = []gatehouse.ClientSecret{{Hash: HashClientSecret(secret), CreatedAt: now}}
	}
	return c, secret, nil
}

// CheckClient checks a client against the registration rules and
// normalises it: duplicates dropped, RS256 stored as "". Its error is a
// 422 naming the first field at fault.
func CheckClient(c *gatehouse.OAuthClient) error {
	c.Name = strings.TrimSpace(c.Name)
	if n := utf8.RuneCountInString(c.Name); n == 0 || n > ClientNameMax || !utf8.ValidString(c.Name) || clientHasControl(c.Name) {
		return gatehouse.Invalid([]string{"body", "name"},
			fmt.Sprintf("A client's name is 1 to %d characters, without control characters", ClientNameMax), "value_error")
	}
	var err error
	if c.RedirectURIs, err = checkClientURIs("redirect_uris", c.RedirectURIs); err != nil {
		return err
	}
	if c.PostLogoutRedirectURIs, err = checkClientURIs("post_logout_redirect_uris", c.PostLogoutRedirectURIs); err != nil {
		return err
	}
	if len(c.Grants) > clientListMax {
		return gatehouse.Invalid([]string{"body", "grants"}, "Too many grants", "value_error")
	}
	c.Grants = clientDedup(c.Grants)
	if len(c.Grants) == 0 {
		return gatehouse.Invalid([]string{"body", "grants"}, "A client needs at least one grant", "value_error")
	}
	for i, g := range c.Grants {
		if !slices.Contains(ClientGrants, g) {
			return gatehouse.Invalid([]string{"body", "grants", strconv.Itoa(i)},
				fmt.Sprintf("Unknown grant %q; known: %s", g, strings.Join(ClientGrants, ", ")), "value_error")
		}
	}
	code := slices.Contains(c.Grants, gatehouse.GrantAuthorizationCode)
	switch {
	case code && len(c.RedirectURIs) == 0:
		return gatehouse.Invalid([]string{"body", "redirect_uris"}, "The authorization_code grant needs at least one redirect URI", "value_error")
	case slices.Contains(c.Grants, gatehouse.GrantRefreshToken) && !code:
		return gatehouse.Invalid([]string{"body", "grants"}, "The refresh_token grant comes with authorization_code", "value_error")
	case c.Public && slices.Contains(c.Grants, gatehouse.GrantClientCredentials):
		return gatehouse.Invalid([]string{"body", "grants"}, "A public client cannot use client_credentials: it has no secret", "value_error")
	}
	if len(c.Scopes) > clientListMax {
		return gatehouse.Invalid([]string{"body", "scopes"}, "Too many scopes", "value_error")
	}
	c.Scopes = clientDedup(c.Scopes)
	for i, s := range c.Scopes {
		if !slices.Contains(ClientScopes, s) {
			return gatehouse.Invalid([]string{"body", "scopes", strconv.Itoa(i)},
				fmt.Sprintf("Unknown scope %q; known: %s", s, strings.Join(ClientScopes, " ")), "value_error")
		}
	}
	alg, ok := clientIDTokenAlgs[c.IDTokenAlg]
	if !ok {
		return gatehouse.Invalid([]string{"body", "id_token_alg"}, "The ID token algorithm is RS256, ES256 or EdDSA", "value_error")
	}
	c.IDTokenAlg = alg
	if c.Public {
		c.Secrets = nil
	}
	return nil
}

// checkClientURIs checks a list of redirect URIs: each absolute, https or http
// to a loopback address (RFC 8252 §7.3), with no fragment or user
// information, and stored exactly as given, since that is how they are
// matched.
func checkClientURIs(field string, uris []string) ([]string, error) {
	// Counted before repeats are dropped too, so that dropping them (a
	// quadratic step) stays cheap whatever the body holds.
	if len(uris) > 2*ClientURIsMax {
		return nil, gatehouse.Invalid([]string{"body", field}, fmt.Sprintf("At most %d URIs", ClientURIsMax), "value_error")
	}
	uris = clientDedup(uris)
	if len(uris) > ClientURIsMax {
		return nil, gatehouse.Invalid([]string{"body", field}, fmt.Sprintf("At most %d URIs", ClientURIsMax), "value_error")
	}
	for i, raw := range uris {
		if msg := checkClientRedirectURI(raw); msg != "" {
			return nil, gatehouse.Invalid([]string{"body", field, strconv.Itoa(i)}, msg, "value_error")
		}
	}
	return uris, nil
}

// checkClientRedirectURI returns why raw cannot be a redirect URI, "" if it can.
func checkClientRedirectURI(raw string) string {
	if len(raw) > ClientURIMax {
		return fmt.Sprintf("A redirect URI is at most %d bytes", ClientURIMax)
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f {
			return "A redirect URI has no spaces or control characters"
		}
	}
	if strings.Contains(raw, "#") {
		return "A redirect URI has no fragment (RFC 6749 §3.1.2)"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute URI", raw)
	}
	if u.User != nil {
		return "A redirect URI has no user information"
	}
	switch {
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && clientLoopbackHost(u.Hostname()):
		return ""
	}
	return "A redirect URI is https, or http to a loopback address (127.0.0.1, [::1] or localhost)"
}

// clientLoopbackHost reports whether host is a loopback address or
// localhost.
func clientLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func clientHasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) })
}

// clientDedup returns l without empty strings and repeats, in order; nil when
// nothing is left.
func clientDedup(l []string) []string {
	var out []string
	for _, s := range l {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// clientRandom returns n characters drawn uniformly from [A-Za-z0-9], by
// rejection sampling of random bytes.
func clientRandom(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		rand.Read(buf) // never fails (crypto/rand, Go 1.24+)
		for _, b := range buf {
			if b < 4*62 && len(out) < n { // 248: a multiple of 62, so every character is equally likely
				out = append(out, alphabet[b%62])
			}
		}
	}
	return string(out)
}

// HashClientSecret is the stored form of a client secret: hex SHA-256.
// Issued secrets carry over 256 bits of entropy, so a fast hash is safe.
func HashClientSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// VerifyClientSecret reports whether secret is one of the client's
// secrets unexpired at now. It compares with every secret the client has,
// in constant time, whichever matches.
func VerifyClientSecret(c *gatehouse.OAuthClient, secret string, now time.Time) bool {
	if c.Public || secret == "" || len(secret) > 512 {
		return false
	}
	h := []byte(HashClientSecret(secret))
	match := 0
	for _, s := range c.Secrets {
		live := 0
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			live = 1
		}
		match |= subtle.ConstantTimeCompare(h, []byte(s.Hash)) & live
	}
	return match == 1
}

// RotateClientSecret gives a confidential client a new secret, which it
// returns, and has its older secrets stop working at now + overlap (at
// the latest; an earlier end stays): the overlap lets the client's
// deployments move to the new secret. Expired secrets are dropped, and at
// most ClientSecretsKept are kept, newest first.
func RotateClientSecret(c *gatehouse.OAuthClient, now time.Time, overlap time.Duration) (string, error) {
	if c.Public {
		return "", gatehouse.Errorf(gatehouse.ECONFLICT, "A public client has no secret to rotate")
	}
	if overlap < 0 || overlap > ClientSecretOverlapMax {
		return "", gatehouse.Invalid([]string{"body", "overlap_seconds"},
			fmt.Sprintf("The overlap is 0 to %d seconds", int(ClientSecretOverlapMax.Seconds())), "value_error")
	}
	secret := clientRandom(clientSecretLen)
	kept := []gatehouse.ClientSecret{{Hash: HashClientSecret(secret), CreatedAt: now}}
	end := now.Add(overlap)
	old := slices.Clone(c.Secrets)
	slices.SortStableFunc(old, func(a, b gatehouse.ClientSecret) int { return b.CreatedAt.Compare(a.CreatedAt) })
	for _, s := range old {
		if s.ExpiresAt.IsZero() || s.ExpiresAt.After(end) {
			s.ExpiresAt = end
		}
		if !s.ExpiresAt.After(now) || len(kept) == ClientSecretsKept {
			continue
		}
		kept = append(kept, s)
	}
	c.Secrets = kept
	return secret, nil
}

// ClientManager registers, lists, changes and deletes clients, with an
// audit event for each change. The admin API, the CLI and the admin page
// share it.
type ClientManager struct {
	store gatehouse.OAuthStore
	auth  *auth.Service
	audit gatehouse.Auditor
	now   func() time.Time
}

// ClientManagerConfig is what NewClientManager needs.
type ClientManagerConfig struct {
	Store   gatehouse.OAuthStore
	Auth    *auth.Service     // ends a deleted client's sessions everywhere
	Auditor gatehouse.Auditor // optional
	Now     func() time.Time  // default time.Now
}

// NewClientManager returns a ClientManager.
func NewClientManager(cfg ClientManagerConfig) *ClientManager {
	m := &ClientManager{store: cfg.Store, auth: cfg.Auth, audit: cfg.Auditor, now: cfg.Now}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

var errClientNotFound = gatehouse.Errorf(gatehouse.ENOTFOUND, "Client not found")

// notFoundAsClient answers ENOTFOUND, whatever the store called it, as
// the client not found.
func notFoundAsClient(err error) error {
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return errClientNotFound
	}
	return err
}

// record writes an audit event of a client change, naming the admin who
// made it, when one did through the API or the pages.
func (m *ClientManager) record(ctx context.Context, typ, detail string) {
	if m.audit == nil {
		return
	}
	e := gatehouse.AuditEvent{Type: typ, Outcome: gatehouse.OutcomeSuccess, Detail: detail}
	if p, ok := gatehouse.PrincipalFrom(ctx); ok && p.User != nil {
		e.UserID, e.Username = p.User.ID, p.User.Username
	}
	m.audit.Record(ctx, e)
}

// Create registers a client; see NewClient.
func (m *ClientManager) Create(ctx context.Context, spec ClientSpec) (*gatehouse.OAuthClient, string, error) {
	c, secret, err := NewClient(spec, m.now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return nil, "", err
	}
	if err := m.store.CreateClient(ctx, c); err != nil {
		return nil, "", fmt.Errorf("oauth: create client: %w", err)
	}
	kind := "confidential"
	if c.Public {
		kind = "public"
	}
	m.record(ctx, gatehouse.EventClientCreated, fmt.Sprintf("client %s %q, %s, grants %s", c.ID, c.Name, kind, strings.Join(c.Grants, ",")))
	return c, secret, nil
}

// Client returns the client with that id, or ENOTFOUND.
func (m *ClientManager) Client(ctx context.Context, id string) (*gatehouse.OAuthClient, error) {
	if id == "" || len(id) > 128 {
		return nil, errClientNotFound
	}
	c, err := m.store.Client(ctx, id)
	return c, notFoundAsClient(err)
}

// List returns up to limit clients with an id after after, by id.
func (m *ClientManager) List(ctx context.Context, after string, limit int) ([]*gatehouse.OAuthClient, error) {
	return m.store.ListClients(ctx, after, limit)
}

// Update applies ch to the client in one transaction, refusing a result
// that breaks the registration rules.
func (m *ClientManager) Update(ctx context.Context, id string, ch ClientChange) (*gatehouse.OAuthClient, error) {
	if id == "" || len(id) > 128 {
		return nil, errClientNotFound
	}
	var fields []string
	c, err := m.store.UpdateClient(ctx, id, func(c *gatehouse.OAuthClient) error {
		set := func(name string, apply func()) {
			fields = append(fields, name)
			apply()
		}
		if ch.Name != nil {
			set("name", func() { c.Name = *ch.Name })
		}
		if ch.RedirectURIs != nil {
			set("redirect_uris", func() { c.RedirectURIs = *ch.RedirectURIs })
		}
		if ch.PostLogoutRedirectURIs != nil {
			set("post_logout_redirect_uris", func() { c.PostLogoutRedirectURIs = *ch.PostLogoutRedirectURIs })
		}
		if ch.Grants != nil {
			set("grants", func() { c.Grants = *ch.Grants })
		}
		if ch.Scopes != nil {
			set("scopes", func() { c.Scopes = *ch.Scopes })
		}
		if ch.FirstParty != nil {
			set("first_party", func() { c.FirstParty = *ch.FirstParty })
		}
		if ch.IDTokenAlg != nil {
			set("id_token_alg", func() { c.IDTokenAlg = *ch.IDTokenAlg })
		}
		return CheckClient(c)
	})
	if err != nil {
		return nil, notFoundAsClient(err)
	}
	m.record(ctx, gatehouse.EventClientChanged, fmt.Sprintf("client %s: %s", id, strings.Join(fields, ",")))
	return c, nil
}

// RotateSecret gives the client a new secret, returned once, and ends its
// older ones after overlap; see RotateClientSecret.
func (m *ClientManager) RotateSecret(ctx context.Context, id string, overlap time.Duration) (*gatehouse.OAuthClient, string, error) {
	if id == "" || len(id) > 128 {
		return nil, "", errClientNotFound
	}
	var secret string
	now := m.now().UTC().Truncate(time.Microsecond)
	c, err := m.store.UpdateClient(ctx, id, func(c *gatehouse.OAuthClient) (err error) {
		secret, err = RotateClientSecret(c, now, overlap)
		return err
	})
	if err != nil {
		return nil, "", notFoundAsClient(err)
	}
	m.record(ctx, gatehouse.EventClientSecretRotated, fmt.Sprintf("client %s: new secret, old ones end within %s", id, overlap))
	return c, secret, nil
}

// Delete deletes the client, its codes and consents, and ends every
// session opened for it; it returns how many sessions it ended.
func (m *ClientManager) Delete(ctx context.Context, id string) (int, error) {
	if id == "" || len(id) > 128 {
		return 0, errClientNotFound
	}
	n, err := m.auth.DeleteOAuthClient(ctx, id)
	if err != nil {
		return 0, notFoundAsClient(err)
	}
	m.record(ctx, gatehouse.EventClientDeleted, fmt.Sprintf("client %s, %d sessions ended", id, n))
	return n, nil
}

// ClientInfo is a client as the admin API and `gatehouse client create
// --json` show it: never a secret's hash; the secret itself only in the
// answer that created it.
type ClientInfo struct {
	ClientID               string       `json:"client_id"`
	ClientSecret           string       `json:"client_secret,omitempty"` // only when just issued
	Name                   string       `json:"name"`
	Public                 bool         `json:"public"`
	FirstParty             bool         `json:"first_party"`
	RedirectURIs           []string     `json:"redirect_uris"`
	PostLogoutRedirectURIs []string     `json:"post_logout_redirect_uris"`
	Grants                 []string     `json:"grants"`
	Scopes                 []string     `json:"scopes"` // empty: every scope
	IDTokenAlg             string       `json:"id_token_alg"`
	Secrets                []SecretInfo `json:"secrets"`
	CreatedAt              time.Time    `json:"created_at"`
	UpdatedAt              time.Time    `json:"updated_at"`
}

// SecretInfo is when one of a client's secrets was issued and ends.
type SecretInfo struct {
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"` // null: no end
}

// NewClientInfo describes c, with secret when it was just issued.
func NewClientInfo(c *gatehouse.OAuthClient, secret string) ClientInfo {
	orEmpty := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	alg := c.IDTokenAlg
	if alg == "" {
		alg = "RS256"
	}
	sec := func(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }
	info := ClientInfo{ClientID: c.ID, ClientSecret: secret, Name: c.Name, Public: c.Public, FirstParty: c.FirstParty,
		RedirectURIs: orEmpty(c.RedirectURIs), PostLogoutRedirectURIs: orEmpty(c.PostLogoutRedirectURIs),
		Grants: orEmpty(c.Grants), Scopes: orEmpty(c.Scopes), IDTokenAlg: alg, Secrets: []SecretInfo{},
		CreatedAt: sec(c.CreatedAt), UpdatedAt: sec(c.UpdatedAt)}
	for _, s := range c.Secrets {
		si := SecretInfo{CreatedAt: sec(s.CreatedAt)}
		if !s.ExpiresAt.IsZero() {
			si.ExpiresAt = new(sec(s.ExpiresAt))
		}
		info.Secrets = append(info.Secrets, si)
	}
	return info
}
