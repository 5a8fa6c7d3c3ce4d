package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/rbac"
)

// The token endpoint's OAuth grants (RFC 6749 §4.1.3, §4.4, §6; contract
// §13). The server's POST /token hands them here (Handles); its password
// grant and first-party refreshes stay its own.

// tokenResponse is RFC 6749 §5.1's answer, with OIDC Core §3.1.3.3's
// id_token.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// Handles reports whether a token request is for this package: the
// authorization_code and client_credentials grants, and the refresh_token
// grant of a registered client (named by client_id or HTTP Basic). A
// refresh naming no registered client is the server's first-party one,
// as before clients existed (the guide's clients may send a client_id of
// their own); a client's refresh token is refused there.
func (p *Provider) Handles(r *http.Request, form url.Values) bool {
	switch form.Get("grant_type") {
	case gatehouse.GrantAuthorizationCode, gatehouse.GrantClientCredentials:
		return true
	case gatehouse.GrantRefreshToken:
		id := form.Get("client_id")
		if scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Basic") {
			if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred)); err == nil {
				bid, _, _ := strings.Cut(string(raw), ":")
				if u, err := url.QueryUnescape(bid); err == nil && u != "" {
					id = u
				}
			}
		}
		if id == "" || len(id) > maxClientID {
			return false
		}
		// Not counted as a miss: first-party refreshes that send a
		// client_id of their own miss every time (and the refresh limit
		// bounds them).
		_, err := p.store.Client(r.Context(), id)
		return gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND
	}
	return false
}

// Token serves a token request that Handles accepted; form is its parsed
// body. The caller has set Cache-Control: no-store and applied its rate
// limits.
func (p *Provider) Token(w http.ResponseWriter, r *http.Request, form url.Values) {
	var (
		resp *tokenResponse
		err  error
	)
	switch form.Get("grant_type") {
	case gatehouse.GrantAuthorizationCode:
		resp, err = p.codeGrant(r, form)
	case gatehouse.GrantRefreshToken:
		resp, err = p.refreshGrant(r, form)
	case gatehouse.GrantClientCredentials:
		resp, err = p.clientCredentialsGrant(r, form)
	default:
		err = badRequest("unsupported_grant_type", "Unsupported grant type")
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

var errBadCode = badRequest("invalid_grant", "The authorization code is invalid, expired or already used")

// codeGrant exchanges an authorization code (RFC 6749 §4.1.3, RFC 7636
// §4.6). The code is redeemed before anything else is checked, so a code
// presented with a wrong verifier is spent too; a code presented again
// revokes the session its first redemption opened (RFC 9700 §4.5).
func (p *Provider) codeGrant(r *http.Request, form url.Values) (*tokenResponse, error) {
	ctx := r.Context()
	c, err := p.authenticateClient(ctx, r, form, false)
	if err != nil {
		return nil, err
	}
	code, verifier := form.Get("code"), form.Get("code_verifier")
	switch {
	case !allows(c, gatehouse.GrantAuthorizationCode):
		return nil, badRequest("unauthorized_client", "This client may not use the authorization code grant")
	case code == "":
		return nil, badRequest("invalid_request", "code is required")
	case verifier == "":
		return nil, badRequest("invalid_request", "code_verifier is required (PKCE)")
	case len(code) > maxParamLen:
		return nil, errBadCode
	}
	sid := auth.NewSessionID()
	ac, err := p.store.RedeemAuthCode(ctx, hashCode(code), p.now(), sid)
	switch {
	case errors.Is(err, gatehouse.ErrCodeReused):
		if ac != nil && ac.ClientID == c.ID {
			if err := p.auth.RevokeCodeSession(ctx, ac.IssuedSession, c.ID, ac.UserID); err != nil {
				return nil, err
			}
		}
		return nil, errBadCode
	case gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND:
		return nil, errBadCode
	case err != nil:
		return nil, fmt.Errorf("oauth: redeem code: %w", err)
	case ac.ClientID != c.ID, !p.now().Before(ac.ExpiresAt):
		return nil, errBadCode
	case ac.RedirectURI != "" && form.Get("redirect_uri") != ac.RedirectURI:
		return nil, badRequest("invalid_grant", "redirect_uri does not match the authorization request")
	case !verifierMatches(verifier, ac.CodeChallenge):
		return nil, badRequest("invalid_grant", "code_verifier does not match the code_challenge")
	}
	pair, err := p.auth.OpenOAuthSession(ctx, auth.OAuthGrant{ClientID: c.ID, UserID: ac.UserID, Scope: ac.Scope,
		AuthTime: ac.AuthTime, AMR: ac.AMR, BrowserSID: ac.BrowserSID, SessionID: sid})
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{AccessToken: pair.AccessToken, TokenType: "Bearer", ExpiresIn: pair.ExpiresIn,
		Scope: pair.Scope, RefreshToken: pair.RefreshToken}
	if gatehouse.HasScope(pair.Scope, auth.ScopeOpenID) {
		id := idSession{authTime: ac.AuthTime, amr: ac.AMR, nonce: ac.Nonce, sid: ac.BrowserSID}
		if resp.IDToken, err = p.idToken(c, pair.User, id, pair.Scope, pair.AccessToken); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// verifierMatches checks a PKCE code_verifier (RFC 7636 §4.1: 43–128
// unreserved characters) against an S256 challenge.
func verifierMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for _, c := range []byte(verifier) {
		ok := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
		if !ok {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// refreshGrant rotates a refresh token of a session opened for the client
// (RFC 6749 §6), with the reuse detection of contract §3: package auth
// refuses, and revokes the session of, a token of another client.
func (p *Provider) refreshGrant(r *http.Request, form url.Values) (*tokenResponse, error) {
	c, err := p.authenticateClient(r.Context(), r, form, false)
	if err != nil {
		return nil, err
	}
	if !allows(c, gatehouse.GrantRefreshToken) {
		return nil, badRequest("unauthorized_client", "This client may not use the refresh_token grant")
	}
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, badRequest("invalid_request", "refresh_token is required")
	}
	if asked := form.Get("scope"); asked != "" {
		// RFC 6749 §6: never more than was granted, refused before the
		// token is spent. Fewer is answered with the grant's scopes, which
		// the answer's scope names.
		info, err := p.auth.InspectRefreshToken(r.Context(), rt)
		if err == nil && info.Claims.ClientID == c.ID && !covers(info.Claims.Scope, asked) {
			return nil, badRequest("invalid_scope", "The scope asked for exceeds the one granted")
		}
	}
	pair, err := p.auth.RefreshForClient(r.Context(), c.ID, rt)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{AccessToken: pair.AccessToken, TokenType: "Bearer", ExpiresIn: pair.ExpiresIn,
		Scope: pair.Scope, RefreshToken: pair.RefreshToken}
	if gatehouse.HasScope(pair.Scope, auth.ScopeOpenID) {
		// A fresh ID token for the same authentication (OIDC Core §12.2),
		// for clients such as kubectl's that present ID tokens.
		sess, err := p.store.LiveSession(r.Context(), pair.SessionID, p.now())
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND { // revoked since the rotation
			return nil, badRequest("invalid_grant", "The session has ended")
		}
		if err != nil {
			return nil, fmt.Errorf("oauth: refresh: session: %w", err)
		}
		id := idSession{authTime: sess.AuthTime, amr: sess.AMR}
		if resp.IDToken, err = p.idToken(c, pair.User, id, pair.Scope, pair.AccessToken); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// clientCredentialsGrant issues a confidential client a token for itself
// (RFC 6749 §4.4): the API scopes it asked for of those it registered (all
// of them when it asked for none), no refresh token, no ID token.
func (p *Provider) clientCredentialsGrant(r *http.Request, form url.Values) (*tokenResponse, error) {
	c, err := p.authenticateClient(r.Context(), r, form, true)
	if err != nil {
		return nil, err
	}
	if !allows(c, gatehouse.GrantClientCredentials) {
		return nil, badRequest("unauthorized_client", "This client may not use the client_credentials grant")
	}
	var registered []string
	for _, s := range c.Scopes {
		if !auth.IsOIDCScope(s) && slices.Contains(rbac.KnownScopes, s) {
			registered = append(registered, s)
		}
	}
	scope := strings.Join(registered, " ")
	if asked := strings.Fields(form.Get("scope")); len(asked) > 0 {
		var out []string
		for _, s := range asked {
			if !slices.Contains(registered, s) {
				return nil, badRequest("invalid_scope", "Scope "+s+" is not registered for this client")
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		scope = strings.Join(out, " ")
	}
	pair, err := p.auth.ClientCredentials(r.Context(), c.ID, scope)
	if err != nil {
		return nil, err
	}
	return &tokenResponse{AccessToken: pair.AccessToken, TokenType: "Bearer", ExpiresIn: pair.ExpiresIn, Scope: pair.Scope}, nil
}
