package oauth

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpsec"
)

// bearerError answers a refused /userinfo request as RFC 6750 §3 says.
func bearerError(w http.ResponseWriter, status int, code, desc string) {
	challenge := "Bearer"
	if code != "" {
		challenge += ` error="` + code + `"`
		if code == "insufficient_scope" {
			challenge += ` scope="openid"`
		}
	}
	w.Header().Set("WWW-Authenticate", challenge)
	body := map[string]string{"detail": desc}
	if code != "" {
		body["error"], body["error_description"] = code, desc
	}
	writeJSON(w, status, body)
}

// isFormBody reports whether r declares an urlencoded form body.
func isFormBody(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

// handleUserinfo serves the UserInfo endpoint (OIDC Core §5.3) to an
// access token issued to a client with the openid scope, sent in the
// Authorization header or, on a POST, as the form field access_token
// (RFC 6750 §2.1, §2.2) — not both.
func (p *Provider) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	tok := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || cred == "" {
			bearerError(w, http.StatusUnauthorized, "invalid_request", "A Bearer token is required")
			return
		}
		tok = strings.TrimSpace(cred)
	}
	if r.Method == http.MethodPost && isFormBody(r) {
		if err := r.ParseForm(); err != nil {
			bearerError(w, http.StatusBadRequest, "invalid_request", "Unparsable form body")
			return
		}
		if v := r.PostForm["access_token"]; len(v) > 0 {
			if tok != "" || len(v) > 1 {
				bearerError(w, http.StatusBadRequest, "invalid_request", "Send the access token once")
				return
			}
			tok = v[0]
		}
	}
	if tok == "" {
		bearerError(w, http.StatusUnauthorized, "", "Not authenticated")
		return
	}
	info, err := p.auth.InspectAccessToken(r.Context(), tok)
	if err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED {
			p.writeError(w, r, err)
			return
		}
		bearerError(w, http.StatusUnauthorized, "invalid_token", gatehouse.ErrorMessage(err))
		return
	}
	if info.User == nil || info.Claims.ClientID == "" || !gatehouse.HasScope(info.Claims.Scope, auth.ScopeOpenID) {
		bearerError(w, http.StatusForbidden, "insufficient_scope", "The token lacks the openid scope")
		return
	}
	body := struct {
		Subject string `json:"sub"`
		userClaims
	}{strconv.FormatInt(info.User.ID, 10), claimsFor(info.User, info.Claims.Scope)}
	writeJSON(w, http.StatusOK, body)
}

// introspection is RFC 7662 §2.2's answer for a live token.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Expires   int64  `json:"exp,omitempty"`
	IssuedAt  int64  `json:"iat,omitempty"`
	NotBefore int64  `json:"nbf,omitempty"`
	Subject   string `json:"sub,omitempty"`
	Audience  string `json:"aud,omitempty"`
	Issuer    string `json:"iss,omitempty"`
	JTI       string `json:"jti,omitempty"`
}

// handleIntrospect serves token introspection (RFC 7662) to an
// authenticated confidential client, which may introspect any token: a
// live access token, or a live refresh token (read, never spent), is
// active; anything else is {"active": false}.
func (p *Provider) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	form, err := p.readForm(r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	if _, err := p.authenticateClient(r.Context(), r, form, true); err != nil {
		p.writeError(w, r, err)
		return
	}
	tok := form.Get("token")
	if tok == "" {
		p.writeError(w, r, badRequest("invalid_request", "token is required"))
		return
	}
	inspect, typ := p.auth.InspectAccessToken, "Bearer"
	if strings.HasPrefix(tok, auth.RefreshPrefix) {
		inspect, typ = p.auth.InspectRefreshToken, "refresh_token"
	}
	info, err := inspect(r.Context(), tok)
	if err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED {
			p.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, introspection{Active: false})
		return
	}
	if info.User == nil { // a client_credentials token: live while its client is
		if _, err := p.store.Client(r.Context(), info.Claims.ClientID); err != nil {
			if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
				p.writeError(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, introspection{Active: false})
			return
		}
	}
	c := info.Claims
	out := introspection{Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: typ, Expires: c.ExpiresAt,
		IssuedAt: c.IssuedAt, NotBefore: c.NotBefore, Subject: c.Subject, Audience: c.Audience, Issuer: c.Issuer, JTI: c.ID}
	if typ == "refresh_token" {
		out.Issuer = p.cfg.Issuer
	}
	if info.User != nil {
		out.Username = info.User.Username
	}
	writeJSON(w, http.StatusOK, out)
}

// handleRevoke serves token revocation (RFC 7009). A client revokes its
// own tokens: an access token by its jti, a refresh token with its whole
// session. Unknown tokens and other clients' tokens are answered 200 and
// left alone.
func (p *Provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, err := p.readForm(r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	c, err := p.authenticateClient(r.Context(), r, form, false)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	tok := form.Get("token")
	if tok == "" {
		p.writeError(w, r, badRequest("invalid_request", "token is required"))
		return
	}
	if strings.HasPrefix(tok, auth.RefreshPrefix) {
		err = p.auth.RevokeRefreshForClient(r.Context(), c.ID, tok)
	} else if info, ierr := p.auth.InspectAccessToken(r.Context(), tok); ierr == nil && info.Claims.ClientID == c.ID {
		err = p.auth.RevokeAccessToken(r.Context(), info.Claims)
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// readForm reads an urlencoded form body; a parameter sent twice is
// invalid_request (RFC 6749 §3.1).
func (p *Provider) readForm(r *http.Request) (url.Values, error) {
	if !isFormBody(r) {
		return nil, badRequest("invalid_request", "A form body (application/x-www-form-urlencoded) is required")
	}
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("invalid_request", "Unparsable form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, badRequest("invalid_request", "Parameter "+k+" is repeated")
		}
	}
	return r.PostForm, nil
}

// hintClaims are what end_session reads of an id_token_hint.
type hintClaims struct {
	Issuer   string          `json:"iss"`
	Subject  string          `json:"sub"`
	Audience json.RawMessage `json:"aud"`
	SID      string          `json:"sid"`
}

func (h *hintClaims) audiences() []string {
	var one string
	if json.Unmarshal(h.Audience, &one) == nil {
		return []string{one}
	}
	var many []string
	json.Unmarshal(h.Audience, &many)
	return many
}

// PathEndSessionConfirm takes the sign-out confirmation page's answer.
const PathEndSessionConfirm = PathEndSession + "/confirm"

// handleEndSession serves RP-initiated logout (OpenID Connect
// RP-Initiated Logout 1.0). With an id_token_hint this server signed for
// the signed-in user, the browser session ends at once; without one, the
// user is asked first (a page whose form is protected like every other),
// so that no other site can sign anyone out. post_logout_redirect_uri
// must be one the client registered, exactly; anything else is an error
// page, never a redirect.
func (p *Provider) handleEndSession(w http.ResponseWriter, r *http.Request) {
	q, dup, err := requestParams(r)
	if err != nil || dup != "" {
		p.pages.Error(w, r, http.StatusBadRequest, "Invalid request", "The sign-out request could not be read.")
		return
	}
	p.endSession(w, r, q, r.URL.Path == PathEndSessionConfirm)
}

func (p *Provider) endSession(w http.ResponseWriter, r *http.Request, q url.Values, confirmed bool) {
	ctx := r.Context()
	var hint *hintClaims
	if v := q.Get("id_token_hint"); v != "" {
		payload, err := p.auth.VerifyIDTokenHint(v)
		hint = &hintClaims{}
		if err != nil || json.Unmarshal(payload, hint) != nil || hint.Issuer != p.cfg.Issuer {
			p.pages.Error(w, r, http.StatusBadRequest, "Invalid sign-out request", "The application sent an ID token this server did not issue.")
			return
		}
	}
	clientID := q.Get("client_id")
	if hint != nil {
		auds := hint.audiences()
		if clientID != "" && !slices.Contains(auds, clientID) {
			p.pages.Error(w, r, http.StatusBadRequest, "Invalid sign-out request", "The client_id does not match the ID token.")
			return
		}
		if clientID == "" && len(auds) == 1 {
			clientID = auds[0]
		}
	}
	var client *gatehouse.OAuthClient
	if clientID != "" && len(clientID) <= maxClientID {
		c, err := p.client(ctx, clientID)
		var rl *auth.RateLimitError
		if errors.As(err, &rl) {
			p.tooMany(w, r, rl)
			return
		}
		if err != nil && gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
			p.log.ErrorContext(ctx, "end session: client lookup failed", "err", err)
			p.pages.Error(w, r, http.StatusInternalServerError, "Something went wrong", "The server could not complete this request. Try again in a moment.")
			return
		}
		client = c
	}
	back := q.Get("post_logout_redirect_uri")
	if back != "" && (client == nil || !slices.Contains(client.PostLogoutRedirectURIs, back)) {
		p.pages.Error(w, r, http.StatusBadRequest, "Invalid sign-out redirect",
			"The application asked to send you to an address it has not registered, so you were not sent there.")
		return
	}
	b, u, err := p.browserSession(r)
	if err != nil {
		p.log.ErrorContext(ctx, "end session: browser session check failed", "err", err)
		p.pages.Error(w, r, http.StatusInternalServerError, "Something went wrong", "The server could not complete this request. Try again in a moment.")
		return
	}
	if b != nil {
		switch {
		case hint != nil && hint.Subject == strconv.FormatInt(u.ID, 10) || confirmed:
			if err := p.auth.EndBrowserSession(ctx, u.ID, b.ID, clientID); err != nil {
				p.log.ErrorContext(ctx, "end session failed", "err", err)
				p.pages.Error(w, r, http.StatusInternalServerError, "Something went wrong", "You could not be signed out. Try again in a moment.")
				return
			}
			p.pages.ClearSessionCookie(w)
		case hint == nil:
			v := &LogoutView{Action: PathEndSessionConfirm}
			if client != nil {
				v.ClientName = client.Name
			}
			for _, k := range []string{"post_logout_redirect_uri", "state", "client_id"} {
				if val := q.Get(k); val != "" {
					v.Fields = append(v.Fields, Field{Name: k, Value: val})
				}
			}
			if clientID != "" && q.Get("client_id") == "" {
				v.Fields = append(v.Fields, Field{Name: "client_id", Value: clientID})
			}
			var actions []string
			if back != "" {
				actions = append(actions, origin(back))
			}
			p.pages.ConfirmLogout(w, r, v, actions)
			return
		}
		// A hint for another user: this browser's session is not theirs to end.
	}
	httpsec.NoStore(w)
	if back == "" {
		http.Redirect(w, r, "/login?done=signed-out", http.StatusSeeOther)
		return
	}
	if s := q.Get("state"); s != "" {
		sep := "?"
		if strings.Contains(back, "?") {
			sep = "&"
		}
		back += sep + url.Values{"state": {s}}.Encode()
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
