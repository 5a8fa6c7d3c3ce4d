package httpapi_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// The OAuth 2.1 / OpenID Connect provider (contract §13) through real
// requests: a browser with a cookie jar goes through /authorize, the real
// login page and the consent page; clients call /token, /userinfo,
// /introspect, /revoke and end_session. The OIDF basic and config
// certification plans' checks (issue 13 §4) are marked "OIDF:".

// oauthKey is the RS256 key of an OAuth test server's ID tokens.
type oauthKey struct {
	kid string
	key *rsa.PrivateKey
}

var testRSA = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

func newOAuthEnv(t *testing.T) *env {
	return newEnvWith(t, envOptions{oauth: &oauthKey{kid: "rsa1", key: testRSA}})
}

// issuer is the OAuth test server's public URL.
func (e *env) issuer() string { return e.srv.URL }

const (
	appRedirect = "https://app.example/cb"
	appSecret   = "s3cret with spaces+plus/slash%percent:colon é"
)

// addClient registers a client; a confidential one gets appSecret.
func (e *env) addClient(id string, mod func(*gatehouse.OAuthClient)) *gatehouse.OAuthClient {
	e.t.Helper()
	sum := sha256.Sum256([]byte(appSecret))
	c := &gatehouse.OAuthClient{ID: id, Name: "App " + id, RedirectURIs: []string{appRedirect, "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example/bye"},
		Grants:                 []string{gatehouse.GrantAuthorizationCode, gatehouse.GrantRefreshToken},
		Secrets:                []gatehouse.ClientSecret{{Hash: hex.EncodeToString(sum[:]), CreatedAt: e.clock.Now()}}}
	if mod != nil {
		mod(c)
	}
	if c.Public {
		c.Secrets = nil
	}
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// browser is a user agent with a cookie jar that follows no redirect by
// itself.
type browser struct {
	e      *env
	client *http.Client
}

func (e *env) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, target string, form url.Values) response {
	b.e.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.e.srv.URL + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin") // the pages' own forms
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	return readResponse(res)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// formFields reads the hidden fields of a page's form.
func formFields(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// authorize runs an authorization request to its end: it follows
// redirects, signs in on the login page when sent there (as user, with
// password pw) and answers the consent page with consent, until the
// browser is sent to the client's redirect URI, whose query it returns.
// pages counts the login and consent pages seen.
func (b *browser) authorize(params url.Values, user, pw, consent string) (url.Values, map[string]int) {
	b.e.t.Helper()
	return b.authorizeFrom(b.do("GET", "/authorize?"+params.Encode(), nil), user, pw, consent)
}

// authorizeFrom is authorize from the answer r of one of its steps.
func (b *browser) authorizeFrom(r response, user, pw, consent string) (url.Values, map[string]int) {
	b.e.t.Helper()
	pages := map[string]int{}
	for range 10 {
		switch {
		case r.status == http.StatusFound || r.status == http.StatusSeeOther:
			loc := r.header.Get("Location")
			if !strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, b.e.srv.URL) {
				u, err := url.Parse(loc)
				if err != nil {
					b.e.t.Fatal(err)
				}
				return u.Query(), pages
			}
			r = b.do("GET", loc, nil)
		case r.status == 200 && strings.Contains(r.raw, `name="consent" value="allow"`):
			pages["consent"]++
			f := formFields(r.raw)
			f.Set("consent", consent)
			r = b.do("POST", "/authorize/consent", f)
		case r.status == 200 && strings.Contains(r.raw, `name="password"`):
			pages["login"]++
			f := formFields(r.raw)
			f.Set("username", user)
			f.Set("password", pw)
			r = b.do("POST", "/login", f)
		default:
			b.e.t.Fatalf("authorize: unexpected answer %d %.600s", r.status, r.raw)
		}
	}
	b.e.t.Fatal("authorize: too many steps")
	return nil, nil
}

// pkce returns a verifier and its S256 challenge.
func pkce() (string, string) {
	var b [32]byte
	rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(v))
	return v, base64.RawURLEncoding.EncodeToString(sum[:])
}

func authzParams(clientID, challenge string, extra ...string) url.Values {
	v := url.Values{"client_id": {clientID}, "redirect_uri": {appRedirect}, "response_type": {"code"},
		"scope": {"openid profile email offline_access read:items"}, "state": {"st-" + clientID}, "nonce": {"n-0S6_WzA2Mj"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			v.Del(extra[i])
		} else {
			v.Set(extra[i], extra[i+1])
		}
	}
	return v
}

// basic is client_secret_basic's header: id and secret form-encoded first
// (RFC 6749 §2.3.1).
func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func (e *env) exchange(clientID, code, verifier string) response {
	return e.form("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {appRedirect}}, "Authorization", basic(clientID, appSecret))
}

// idToken verifies an ID token's RS256 signature with the test key and
// returns its header and claims.
func (e *env) idToken(tok string) (map[string]any, map[string]any) {
	e.t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		e.t.Fatalf("id_token %q is not a JWS", tok)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&testRSA.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		e.t.Fatalf("id_token signature: %v", err)
	}
	var h, c map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		e.t.Fatalf("id_token parts are not JSON: %s", tok)
	}
	return h, c
}

func TestOAuthCodeFlowThroughTheLoginPage(t *testing.T) {
	e := newOAuthEnv(t)
	u := e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("app", nil)
	b := e.newBrowser()
	verifier, challenge := pkce()

	q, pages := b.authorize(authzParams("app", challenge), "alice", "correct horse battery", "allow")
	if pages["login"] != 1 || pages["consent"] != 1 {
		t.Fatalf("pages seen = %v, want one login and one consent", pages)
	}
	// OIDF: state and iss in the response (RFC 9207).
	if q.Get("state") != "st-app" || q.Get("iss") != e.issuer() || q.Get("code") == "" {
		t.Fatalf("redirect query = %v", q)
	}
	r := e.exchange("app", q.Get("code"), verifier)
	wantStatus(t, r, 200)
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("token answer Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	at, rt, idt := r.str("access_token"), r.str("refresh_token"), r.str("id_token")
	if at == "" || rt == "" || idt == "" || r.str("scope") != "openid profile email offline_access read:items" ||
		!strings.EqualFold(r.str("token_type"), "bearer") {
		t.Fatalf("token answer = %s", r.raw)
	}
	// OIDF: ID token iss/aud/exp/iat/nonce/sub/auth_time and kid.
	h, c := e.idToken(idt)
	now := float64(e.clock.Now().Unix())
	if h["alg"] != "RS256" || h["kid"] != "rsa1" {
		t.Errorf("id_token header = %v", h)
	}
	if c["iss"] != e.issuer() || c["aud"] != "app" || c["sub"] != itoa(u.ID) || c["nonce"] != "n-0S6_WzA2Mj" ||
		c["iat"] != now || c["exp"].(float64) <= now || c["auth_time"] != now || c["sid"] == "" {
		t.Errorf("id_token claims = %v", c)
	}
	sum := sha256.Sum256([]byte(at))
	if c["at_hash"] != base64.RawURLEncoding.EncodeToString(sum[:16]) {
		t.Errorf("at_hash = %v", c["at_hash"])
	}
	if amr, _ := c["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
		t.Errorf("amr = %v", c["amr"])
	}
	if c["email"] != "alice@example.com" || c["email_verified"] != true || c["preferred_username"] != "alice" {
		t.Errorf("profile and email claims = %v", c)
	}

	// OIDF: userinfo sub = ID token sub; GET with the header, POST with the body.
	ui := e.get("/userinfo", at)
	wantStatus(t, ui, 200)
	if ui.str("sub") != c["sub"] || ui.str("email") != "alice@example.com" {
		t.Errorf("userinfo = %s", ui.raw)
	}
	ui = e.form("/userinfo", url.Values{"access_token": {at}})
	wantStatus(t, ui, 200)
	if ui.str("sub") != c["sub"] {
		t.Errorf("userinfo by POST = %s", ui.raw)
	}

	// The access token: RFC 9068's client_id, and it works on the API
	// with the API scopes granted.
	if claims := jwtClaims(t, at); claims["client_id"] != "app" || claims["aud"] != "gatehouse" {
		t.Errorf("access token claims = %v", claims)
	}
	wantStatus(t, e.get("/items", at), 200)
	wantStatus(t, e.get("/users/me", at), 200)

	// A confidential client introspects it.
	in := e.form("/introspect", url.Values{"token": {at}}, "Authorization", basic("app", appSecret))
	wantStatus(t, in, 200)
	if in.body["active"] != true || in.str("client_id") != "app" || in.str("username") != "alice" {
		t.Errorf("introspection = %s", in.raw)
	}

	// The account page lists the client's session.
	if acc := b.do("GET", "/account", nil); !strings.Contains(acc.raw, "signed in to App app") {
		t.Errorf("the account page does not list the client's session")
	}

	// Single sign-on and consent once: a second request goes straight back.
	_, challenge2 := pkce()
	q2, pages2 := b.authorize(authzParams("app", challenge2), "", "", "")
	if len(pages2) != 0 || q2.Get("code") == "" {
		t.Fatalf("second authorization: pages %v, query %v", pages2, q2)
	}
	// prompt=consent asks again.
	_, challenge3 := pkce()
	_, pages3 := b.authorize(authzParams("app", challenge3, "prompt", "consent"), "", "", "allow")
	if pages3["consent"] != 1 || pages3["login"] != 0 {
		t.Fatalf("prompt=consent: pages %v", pages3)
	}
}

// jwtClaims decodes a JWT's claims without verifying it.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWT", tok)
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOAuthConsentDenied(t *testing.T) {
	e := newOAuthEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("app", nil)
	_, challenge := pkce()
	q, _ := e.newBrowser().authorize(authzParams("app", challenge), "alice", "correct horse battery", "deny")
	if q.Get("error") != "access_denied" || q.Get("code") != "" || q.Get("state") != "st-app" || q.Get("iss") != e.issuer() {
		t.Fatalf("denied consent answered %v", q)
	}
}

func TestOAuthFirstPartyClientsSkipConsent(t *testing.T) {
	e := newOAuthEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("own", func(c *gatehouse.OAuthClient) { c.FirstParty = true })
	_, challenge := pkce()
	q, pages := e.newBrowser().authorize(authzParams("own", challenge), "alice", "correct horse battery", "")
	if pages["consent"] != 0 || q.Get("code") == "" {
		t.Fatalf("first-party client: pages %v, query %v", pages, q)
	}
}

func TestOAuthPrompts(t *testing.T) {
	e := newOAuthEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("app", nil)
	b := e.newBrowser()

	// OIDF: prompt=none without a session → login_required, no UI.
	_, ch := pkce()
	r := b.do("GET", "/authorize?"+authzParams("app", ch, "prompt", "none").Encode(), nil)
	q := redirectQuery(t, r)
	if q.Get("error") != "login_required" || q.Get("state") != "st-app" {
		t.Fatalf("prompt=none without a session: %v", q)
	}
	// Signed in, no consent yet: consent_required.
	e.clock.Advance(time.Second)
	verifier, ch := pkce()
	q1, _ := b.authorize(authzParams("app", ch), "alice", "correct horse battery", "allow")
	_, c1 := e.idToken(e.exchange("app", q1.Get("code"), verifier).str("id_token"))
	e.addClient("other", nil)
	r = b.do("GET", "/authorize?"+authzParams("other", ch, "prompt", "none").Encode(), nil)
	if q := redirectQuery(t, r); q.Get("error") != "consent_required" {
		t.Fatalf("prompt=none without consent: %v", q)
	}
	// With both, prompt=none answers with a code.
	r = b.do("GET", "/authorize?"+authzParams("app", ch, "prompt", "none").Encode(), nil)
	if q := redirectQuery(t, r); q.Get("code") == "" {
		t.Fatalf("prompt=none with a session and consent: %v", q)
	}

	// OIDF: prompt=login forces a newer auth_time.
	e.clock.Advance(5 * time.Second)
	verifier, ch = pkce()
	q2, pages := b.authorize(authzParams("app", ch, "prompt", "login"), "alice", "correct horse battery", "allow")
	if pages["login"] != 1 {
		t.Fatalf("prompt=login showed pages %v", pages)
	}
	_, c2 := e.idToken(e.exchange("app", q2.Get("code"), verifier).str("id_token"))
	if c2["auth_time"].(float64) <= c1["auth_time"].(float64) {
		t.Fatalf("prompt=login: auth_time %v, not after %v", c2["auth_time"], c1["auth_time"])
	}

	// OIDF: max_age=1, older session → a login, a newer auth_time.
	e.clock.Advance(5 * time.Second)
	verifier, ch = pkce()
	q3, pages := b.authorize(authzParams("app", ch, "max_age", "1"), "alice", "correct horse battery", "allow")
	if pages["login"] != 1 {
		t.Fatalf("max_age=1 showed pages %v", pages)
	}
	_, c3 := e.idToken(e.exchange("app", q3.Get("code"), verifier).str("id_token"))
	if c3["auth_time"].(float64) <= c2["auth_time"].(float64) {
		t.Fatalf("max_age=1: auth_time %v, not after %v", c3["auth_time"], c2["auth_time"])
	}
	// login_hint fills in the username.
	r = e.newBrowser().do("GET", "/authorize?"+authzParams("app", ch, "login_hint", "alice").Encode(), nil)
	page := e.newBrowser().do("GET", r.header.Get("Location"), nil)
	if !strings.Contains(page.raw, `value="alice"`) {
		t.Errorf("login_hint not on the login page: %.400s", page.raw)
	}
}

// redirectQuery returns the query of a redirect to the client.
func redirectQuery(t *testing.T, r response) url.Values {
	t.Helper()
	loc := r.header.Get("Location")
	if r.status != http.StatusFound && r.status != http.StatusSeeOther || !strings.HasPrefix(loc, appRedirect) {
		t.Fatalf("want a redirect to the client, got %d %q %.300s", r.status, loc, r.raw)
	}
	u, _ := url.Parse(loc)
	return u.Query()
}

func TestOAuthAuthorizationRequestErrors(t *testing.T) {
	e := newOAuthEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("app", nil)
	e.addClient("noauthz", func(c *gatehouse.OAuthClient) { c.Grants = []string{gatehouse.GrantClientCredentials} })
	_, ch := pkce()
	b := e.newBrowser()

	// OIDF: an unregistered redirect (or unknown client) is an error page, never a redirect.
	for name, p := range map[string]url.Values{
		"unregistered redirect": authzParams("app", ch, "redirect_uri", "https://evil.example/cb"),
		"prefix of a redirect":  authzParams("app", ch, "redirect_uri", appRedirect+"/more"),
		"unknown client":        authzParams("nobody", ch),
		"no client":             authzParams("app", ch, "client_id", ""),
	} {
		r := b.do("GET", "/authorize?"+p.Encode(), nil)
		if r.status != 400 || r.header.Get("Location") != "" || !strings.Contains(r.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %q", name, r.status, r.header.Get("Location"))
		}
	}
	// A loopback redirect may use any port (RFC 8252 §7.3).
	r := b.do("GET", "/authorize?"+authzParams("app", ch, "redirect_uri", "http://127.0.0.1:53123/cb").Encode(), nil)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login?") {
		t.Errorf("loopback redirect on another port: %d %q", r.status, r.header.Get("Location"))
	}

	for _, tt := range []struct {
		name   string
		params url.Values
		err    string
	}{
		{"OIDF: missing response_type", authzParams("app", ch, "response_type", ""), "invalid_request"},
		{"token response type", authzParams("app", ch, "response_type", "token"), "unsupported_response_type"},
		{"OIDF: plain PKCE refused", authzParams("app", ch, "code_challenge_method", "plain"), "invalid_request"},
		{"no PKCE", authzParams("app", "", "code_challenge_method", ""), "invalid_request"},
		{"OIDF: request object", authzParams("app", ch, "request", "eyJhbGciOiJub25lIn0.e30."), "request_not_supported"},
		{"request_uri", authzParams("app", ch, "request_uri", "https://app.example/r"), "request_uri_not_supported"},
		{"client without the grant", authzParams("noauthz", ch), "unauthorized_client"},
		{"prompt none and login", authzParams("app", ch, "prompt", "none login"), "invalid_request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := b.do("GET", "/authorize?"+tt.params.Encode(), nil)
			q := redirectQuery(t, r)
			if q.Get("error") != tt.err || q.Get("iss") != e.issuer() || q.Get("code") != "" {
				t.Fatalf("answer %v, want error %s", q, tt.err)
			}
		})
	}

	// A parameter twice is refused; POST works as GET.
	r = b.do("GET", "/authorize?"+authzParams("app", ch).Encode()+"&scope=openid", nil)
	if q := redirectQuery(t, r); q.Get("error") != "invalid_request" {
		t.Errorf("repeated scope: %v", q)
	}
	r = b.do("POST", "/authorize", authzParams("app", ch))
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login?") {
		t.Errorf("POST /authorize: %d %q", r.status, r.header.Get("Location"))
	}
}

func TestOAuthUnknownParametersAndNoNonce(t *testing.T) {
	e := newOAuthEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("app", nil)
	verifier, ch := pkce()
	// OIDF: unknown parameters are ignored; a request without nonce works.
	q, _ := e.newBrowser().authorize(authzParams("app", ch, "nonce", "", "foo", "bar", "ui_locales", "xx"),
		"alice", "correct horse battery", "allow")
	r := e.exchange("app", q.Get("code"), verifier)
	wantStatus(t, r, 200)
	_, c := e.idToken(r.str("id_token"))
	if _, ok := c["nonce"]; ok {
		t.Errorf("nonce claim without a nonce: %v", c)
	}
}

// signIn runs a code flow for alice with client id and returns the token answer.
func (e *env) codeTokens(b *browser, id string, extra ...string) response {
	e.t.Helper()
	verifier, ch := pkce()
	q, _ := b.authorize(authzParams(id, ch, extra...), "alice", "correct horse battery", "allow")
	r := e.exchange(id, q.Get("code"), verifier)
	if r.status != 200 {
		e.t.Fatalf("code exchange: %d %s", r.status, r.raw)
	}
	return r
}

func TestOAuthCodeExchangeRules(t *testing.T) {
	e := newOAuthEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("app", nil)
	e.addClient("other", nil)
	b := e.newBrowser()
	code := func() (string, string) {
		verifier, ch := pkce()
		q, _ := b.authorize(authzParams("app", ch), "alice", "correct horse battery", "allow")
		return q.Get("code"), verifier
	}

	// OIDF: code reuse → invalid_grant, and the first access token revoked.
	c, v := code()
	first := e.exchange("app", c, v)
	wantStatus(t, first, 200)
	again := e.exchange("app", c, v)
	if again.status != 400 || again.str("error") != "invalid_grant" {
		t.Fatalf("reused code: %d %s", again.status, again.raw)
	}
	wantStatus(t, e.get("/userinfo", first.str("access_token")), 401)
	r := e.form("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}},
		"Authorization", basic("app", appSecret))
	if r.status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("refresh after code reuse: %d %s", r.status, r.raw)
	}

	for name, tt := range map[string]struct {
		mod  func(v url.Values)
		auth string
		want string
	}{
		"wrong verifier":       {func(v url.Values) { w, _ := pkce(); v.Set("code_verifier", w) }, basic("app", appSecret), "invalid_grant"},
		"other client":         {nil, basic("other", appSecret), "invalid_grant"},
		"wrong redirect_uri":   {func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1/cb") }, basic("app", appSecret), "invalid_grant"},
		"no verifier":          {func(v url.Values) { v.Del("code_verifier") }, basic("app", appSecret), "invalid_request"},
		"wrong secret":         {nil, basic("app", "nope"), "invalid_client"},
		"unknown client":       {nil, basic("ghost", appSecret), "invalid_client"},
		"expired (60 s) code":  {func(url.Values) { e.clock.Advance(61 * time.Second) }, basic("app", appSecret), "invalid_grant"},
		"secret in both forms": {func(v url.Values) { v.Set("client_secret", appSecret) }, basic("app", appSecret), "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			c, v := code()
			form := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "code_verifier": {v}, "redirect_uri": {appRedirect}}
			if tt.mod != nil {
				tt.mod(form)
			}
			r := e.form("/token", form, "Authorization", tt.auth)
			if r.str("error") != tt.want {
				t.Fatalf("%d %s, want %s", r.status, r.raw, tt.want)
			}
			if tt.want == "invalid_client" {
				if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
					t.Fatalf("invalid_client: %d %v", r.status, r.header)
				}
			} else if r.status != 400 {
				t.Fatalf("status %d, want 400", r.status)
			}
		})
	}

	// OIDF: client_secret_post works as client_secret_basic does.
	c, v = code()
	r = e.form("/token", url.Values{"grant_type": {"authorization_code"}, "code": {c}, "code_verifier": {v},
		"redirect_uri": {appRedirect}, "client_id": {"app"}, "client_secret": {appSecret}})
	wantStatus(t, r, 200)
}

func TestOAuthPublicClientWithPKCE(t *testing.T) {
	e := newOAuthEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("spa", func(c *gatehouse.OAuthClient) { c.Public = true })
	verifier, ch := pkce()
	q, _ := e.newBrowser().authorize(authzParams("spa", ch), "alice", "correct horse battery", "allow")
	r := e.form("/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {appRedirect}, "client_id": {"spa"}})
	wantStatus(t, r, 200)
	// It refreshes with its client_id alone.
	r = e.form("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}, "client_id": {"spa"}})
	wantStatus(t, r, 200)
	if jwtClaims(t, r.str("access_token"))["client_id"] != "spa" {
		t.Errorf("public client's refreshed token: %s", r.raw)
	}
	// A public client has no secret to send, and gets no client_credentials.
	r = e.form("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"spa"}})
	if r.status != 401 || r.str("error") != "invalid_client" {
		t.Fatalf("client_credentials for a public client: %d %s", r.status, r.raw)
	}
}

func TestOAuthRefreshTokensAreBoundToTheirClient(t *testing.T) {
	e := newOAuthEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("app", nil)
	e.addClient("other", nil)
	b := e.newBrowser()
	refresh := func(id, rt string) response {
		return e.form("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "Authorization", basic(id, appSecret))
	}

	// Rotation: a new refresh token, with its client's access token, and a
	// new ID token for the same authentication (OIDC Core §12.2).
	t1 := e.codeTokens(b, "app")
	e.clock.Advance(10 * time.Second)
	r := refresh("app", t1.str("refresh_token"))
	wantStatus(t, r, 200)
	if r.str("refresh_token") == "" || r.str("refresh_token") == t1.str("refresh_token") ||
		jwtClaims(t, r.str("access_token"))["client_id"] != "app" || r.str("scope") != t1.str("scope") {
		t.Fatalf("rotation: %s", r.raw)
	}
	_, first := e.idToken(t1.str("id_token"))
	_, again := e.idToken(r.str("id_token"))
	sum := sha256.Sum256([]byte(r.str("access_token")))
	if again["sub"] != first["sub"] || again["aud"] != "app" || again["iss"] != first["iss"] || again["auth_time"] != first["auth_time"] ||
		again["iat"].(float64) != first["iat"].(float64)+10 || again["nonce"] != nil ||
		again["at_hash"] != base64.RawURLEncoding.EncodeToString(sum[:16]) || fmt.Sprint(again["amr"]) != fmt.Sprint(first["amr"]) {
		t.Fatalf("refreshed id_token %v, first %v", again, first)
	}
	// More scope than granted: invalid_scope, and the token is not spent.
	r3 := e.form("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}, "scope": {"openid admin"}},
		"Authorization", basic("app", appSecret))
	if r3.status != 400 || r3.str("error") != "invalid_scope" {
		t.Fatalf("refresh for more scope: %d %s", r3.status, r3.raw)
	}
	r4 := e.form("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}, "scope": {"openid"}},
		"Authorization", basic("app", appSecret))
	if r4.status != 200 || r4.str("scope") != t1.str("scope") {
		t.Fatalf("refresh for less scope: %d %s", r4.status, r4.raw)
	}
	r = r4
	// Reuse after the grace: the session is revoked.
	e.clock.Advance(3 * time.Second)
	if r2 := refresh("app", t1.str("refresh_token")); r2.status != 400 || r2.str("error") != "invalid_grant" {
		t.Fatalf("reuse: %d %s", r2.status, r2.raw)
	}
	wantStatus(t, e.get("/userinfo", r.str("access_token")), 401)

	// OIDF: refresh tokens bound to their client: another client's try
	// fails, and the token (stolen) loses its session.
	t2 := e.codeTokens(b, "app")
	r = refresh("other", t2.str("refresh_token"))
	if r.status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("other client's refresh: %d %s", r.status, r.raw)
	}
	wantStatus(t, e.get("/userinfo", t2.str("access_token")), 401)

	// A client's refresh token at the first-party refresh endpoint: 401, revoked.
	t3 := e.codeTokens(b, "app")
	wantStatus(t, e.refreshJSON(t3.str("refresh_token")), 401)
	wantStatus(t, e.get("/userinfo", t3.str("access_token")), 401)
	// And a first-party refresh token at a client's grant: refused.
	_, frt := e.mustLogin("alice", "correct horse battery")
	if r := refresh("app", frt); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("first-party token at the client grant: %d %s", r.status, r.raw)
	}

	// Without offline_access, no refresh token.
	t4 := e.codeTokens(b, "app", "scope", "openid")
	if t4.str("refresh_token") != "" {
		t.Fatalf("refresh token without offline_access: %s", t4.raw)
	}
}

func TestOAuthClientCredentials(t *testing.T) {
	e := newOAuthEnv(t)
	e.addClient("svc", func(c *gatehouse.OAuthClient) {
		c.Grants = []string{gatehouse.GrantClientCredentials}
		c.Scopes = []string{"read:items", "write:items"}
	})
	e.addClient("app", nil)
	r := e.form("/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"read:items"}}, "Authorization", basic("svc", appSecret))
	wantStatus(t, r, 200)
	if r.str("refresh_token") != "" || r.str("id_token") != "" || r.str("scope") != "read:items" {
		t.Fatalf("client_credentials answer: %s", r.raw)
	}
	c := jwtClaims(t, r.str("access_token"))
	if c["sub"] != "svc" || c["client_id"] != "svc" {
		t.Errorf("client_credentials token claims: %v", c)
	}
	in := e.form("/introspect", url.Values{"token": {r.str("access_token")}}, "Authorization", basic("svc", appSecret))
	if in.body["active"] != true || in.str("client_id") != "svc" || in.str("scope") != "read:items" {
		t.Errorf("introspection: %s", in.raw)
	}
	// Once its client is deleted, the token is no longer active.
	if _, err := e.store.DeleteClient(context.Background(), "svc", e.clock.Now(), e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	in = e.form("/introspect", url.Values{"token": {r.str("access_token")}}, "Authorization", basic("app", appSecret))
	if in.body["active"] != false {
		t.Errorf("introspection after the client was deleted: %s", in.raw)
	}
	e.addClient("svc", func(c *gatehouse.OAuthClient) {
		c.Grants = []string{gatehouse.GrantClientCredentials}
		c.Scopes = []string{"read:items", "write:items"}
	})
	// Unregistered scope; a client without the grant.
	r = e.form("/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, "Authorization", basic("svc", appSecret))
	if r.status != 400 || r.str("error") != "invalid_scope" {
		t.Errorf("unregistered scope: %d %s", r.status, r.raw)
	}
	r = e.form("/token", url.Values{"grant_type": {"client_credentials"}}, "Authorization", basic("app", appSecret))
	if r.status != 400 || r.str("error") != "unauthorized_client" {
		t.Errorf("client without the grant: %d %s", r.status, r.raw)
	}
}

func TestOAuthIntrospectionAndRevocation(t *testing.T) {
	e := newOAuthEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("app", nil)
	e.addClient("other", nil)
	e.addClient("spa", func(c *gatehouse.OAuthClient) { c.Public = true })
	b := e.newBrowser()
	introspect := func(tok string) response {
		return e.form("/introspect", url.Values{"token": {tok}}, "Authorization", basic("other", appSecret))
	}
	t1 := e.codeTokens(b, "app")

	// Introspection needs an authenticated confidential client.
	if r := e.form("/introspect", url.Values{"token": {t1.str("access_token")}}); r.status != 401 {
		t.Errorf("introspection without a client: %d", r.status)
	}
	if r := e.form("/introspect", url.Values{"token": {t1.str("access_token")}, "client_id": {"spa"}}); r.status != 401 {
		t.Errorf("introspection by a public client: %d", r.status)
	}
	// A live refresh token is active (read, not spent); a spent one is not.
	in := introspect(t1.str("refresh_token"))
	if in.body["active"] != true || in.str("client_id") != "app" || in.str("token_type") != "refresh_token" || in.str("username") != "alice" {
		t.Errorf("introspect a refresh token: %s", in.raw)
	}
	t0 := e.codeTokens(b, "app")
	wantStatus(t, e.form("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t0.str("refresh_token")}},
		"Authorization", basic("app", appSecret)), 200)
	for _, tok := range []string{"garbage", t0.str("refresh_token"), "ghr_" + strings.Repeat("A", 43), ""} {
		r := introspect(tok)
		if tok == "" {
			wantStatus(t, r, 400)
			continue
		}
		if r.status != 200 || r.raw != "{\"active\":false}\n" {
			t.Errorf("introspect %q: %d %s", tok, r.status, r.raw)
		}
	}

	// Another client may not revoke the token; its own client may.
	revoke := func(id, tok string) response {
		return e.form("/revoke", url.Values{"token": {tok}}, "Authorization", basic(id, appSecret))
	}
	wantStatus(t, revoke("other", t1.str("access_token")), 200)
	if introspect(t1.str("access_token")).body["active"] != true {
		t.Fatal("another client revoked the access token")
	}
	wantStatus(t, revoke("app", t1.str("access_token")), 200)
	if introspect(t1.str("access_token")).body["active"] != false {
		t.Fatal("the revoked access token is still active")
	}
	// Revoking the refresh token ends its session; another client's try
	// changes nothing.
	t2 := e.codeTokens(b, "app")
	wantStatus(t, revoke("other", t2.str("refresh_token")), 200)
	if introspect(t2.str("refresh_token")).body["active"] != true {
		t.Fatal("another client's revocation touched the refresh token")
	}
	wantStatus(t, revoke("app", t2.str("refresh_token")), 200)
	wantStatus(t, e.get("/userinfo", t2.str("access_token")), 401)
	if introspect(t2.str("refresh_token")).body["active"] != false {
		t.Fatal("the revoked refresh token is still active")
	}
	// Unknown tokens: 200 (RFC 7009 §2.2).
	wantStatus(t, revoke("app", "ghr_unknown"), 200)
	wantStatus(t, revoke("app", "garbage"), 200)
}

func TestOAuthUserinfoNeedsAClientTokenWithOpenID(t *testing.T) {
	e := newOAuthEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("app", nil)
	at, _ := e.mustLogin("alice", "correct horse battery")
	r := e.get("/userinfo", at)
	if r.status != 403 || !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("first-party token at userinfo: %d %v", r.status, r.header)
	}
	r = e.get("/userinfo", "")
	if r.status != 401 || r.header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("no token: %d %v", r.status, r.header)
	}
	r = e.get("/userinfo", "garbage")
	if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("bad token: %d %v", r.status, r.header)
	}
	t1 := e.codeTokens(e.newBrowser(), "app", "scope", "read:items")
	if r := e.get("/userinfo", t1.str("access_token")); r.status != 403 {
		t.Errorf("client token without openid: %d %s", r.status, r.raw)
	}
}

func TestOAuthDiscovery(t *testing.T) {
	e := newOAuthEnv(t)
	a := e.get("/.well-known/openid-configuration", "")
	b := e.get("/.well-known/oauth-authorization-server", "")
	wantStatus(t, a, 200)
	if a.raw != b.raw {
		t.Error("the two discovery documents differ")
	}
	// OIDF: issuer exact, scopes_supported with openid.
	iss := e.issuer()
	if a.str("issuer") != iss || a.str("authorization_endpoint") != iss+"/authorize" || a.str("token_endpoint") != iss+"/token" ||
		a.str("introspection_endpoint") != iss+"/introspect" || a.str("revocation_endpoint") != iss+"/revoke" ||
		a.str("end_session_endpoint") != iss+"/end-session" || a.str("jwks_uri") != iss+"/.well-known/jwks.json" ||
		a.str("userinfo_endpoint") != iss+"/userinfo" || a.body["authorization_response_iss_parameter_supported"] != true {
		t.Errorf("discovery = %s", a.raw)
	}
	has := func(field, v string) bool {
		list, _ := a.body[field].([]any)
		return slices.Contains(list, any(v))
	}
	if !has("scopes_supported", "openid") || !has("code_challenge_methods_supported", "S256") || has("code_challenge_methods_supported", "plain") ||
		!has("id_token_signing_alg_values_supported", "RS256") || !has("token_endpoint_auth_methods_supported", "client_secret_basic") ||
		!has("token_endpoint_auth_methods_supported", "client_secret_post") || !has("response_types_supported", "code") {
		t.Errorf("discovery lists = %s", a.raw)
	}
}

func TestOAuthEndSession(t *testing.T) {
	e := newOAuthEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("app", nil)
	b := e.newBrowser()
	idt := e.codeTokens(b, "app").str("id_token")

	// An unregistered post_logout_redirect_uri: an error page, nothing ended.
	r := b.do("GET", "/end-session?"+url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode(), nil)
	if r.status != 400 || r.header.Get("Location") != "" {
		t.Fatalf("unregistered post-logout redirect: %d %q", r.status, r.header.Get("Location"))
	}
	wantStatus(t, b.do("GET", "/account", nil), 200)

	// Without a hint, the user is asked first.
	r = b.do("GET", "/end-session?"+url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"https://app.example/bye"}}.Encode(), nil)
	if r.status != 200 || !strings.Contains(r.raw, `action="/end-session/confirm"`) {
		t.Fatalf("end_session without a hint: %d %.300s", r.status, r.raw)
	}
	wantStatus(t, b.do("GET", "/account", nil), 200)

	// With the hint and a registered URI: signed out, sent back with state.
	r = b.do("GET", "/end-session?"+url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://app.example/bye"},
		"state": {"xyz"}}.Encode(), nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "https://app.example/bye?state=xyz" {
		t.Fatalf("end_session: %d %q", r.status, r.header.Get("Location"))
	}
	r = b.do("GET", "/account", nil)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Fatalf("after end_session the browser is still signed in: %d", r.status)
	}
	// The next authorization needs a login again.
	_, ch := pkce()
	_, pages := b.authorize(authzParams("app", ch), "alice", "correct horse battery", "allow")
	if pages["login"] != 1 {
		t.Fatalf("after end_session: pages %v", pages)
	}
}

func TestOAuthLoginPageAllowsTheClientInItsFormAction(t *testing.T) {
	e := newOAuthEnv(t)
	e.addClient("app", nil)
	_, ch := pkce()
	b := e.newBrowser()
	r := b.do("GET", "/authorize?"+authzParams("app", ch).Encode(), nil)
	page := b.do("GET", r.header.Get("Location"), nil)
	csp := page.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action") || !strings.Contains(csp, "https://app.example") {
		t.Fatalf("login page CSP for an authorization request: %q", csp)
	}
	plain := b.do("GET", "/login", nil).header.Get("Content-Security-Policy")
	if strings.Contains(plain, "app.example") {
		t.Fatalf("plain login page CSP names the client: %q", plain)
	}
	// The consent page and the sign-out confirmation redirect to the
	// client too.
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	f := formFields(page.raw)
	f.Set("username", "alice")
	f.Set("password", "correct horse battery")
	r = b.do("POST", "/login", f)
	consent := b.do("GET", r.header.Get("Location"), nil)
	if !strings.Contains(consent.raw, `value="allow"`) || !strings.Contains(consent.header.Get("Content-Security-Policy"), "https://app.example") {
		t.Fatalf("consent page CSP: %q", consent.header.Get("Content-Security-Policy"))
	}
	confirm := b.do("GET", "/end-session?"+url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"https://app.example/bye"}}.Encode(), nil)
	if !strings.Contains(confirm.raw, "/end-session/confirm") || !strings.Contains(confirm.header.Get("Content-Security-Policy"), "https://app.example") {
		t.Fatalf("sign-out confirmation CSP: %q", confirm.header.Get("Content-Security-Policy"))
	}
	// Its form, posted from the page, signs out and goes back.
	cf := formFields(confirm.raw)
	r = b.do("POST", "/end-session/confirm", cf)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "https://app.example/bye" {
		t.Fatalf("confirmed sign-out: %d %q", r.status, r.header.Get("Location"))
	}
	if r := b.do("GET", "/account", nil); r.status != http.StatusSeeOther {
		t.Fatalf("still signed in after the confirmed sign-out: %d", r.status)
	}
}

func TestOAuthClientCredentialsTokenNeverActsForAUser(t *testing.T) {
	e := newOAuthEnv(t)
	u := e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	id := itoa(u.ID) // a client whose id spells a user's
	e.addClient(id, func(c *gatehouse.OAuthClient) {
		c.Grants = []string{gatehouse.GrantClientCredentials}
		c.Scopes = []string{"read:items"}
	})
	r := e.form("/token", url.Values{"grant_type": {"client_credentials"}}, "Authorization", basic(id, appSecret))
	wantStatus(t, r, 200)
	wantStatus(t, e.get("/users/me", r.str("access_token")), 401)
	wantStatus(t, e.get("/items", r.str("access_token")), 401)
	if r := e.get("/userinfo", r.str("access_token")); r.status != 403 {
		t.Errorf("userinfo with a client_credentials token: %d", r.status)
	}
}

func TestOAuthTwoFactorLoginShowsInAMR(t *testing.T) {
	e := newOAuthEnv(t)
	tf := &tfEnv{env: e}
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	at, _ := e.mustLogin("alice", "correct horse battery")
	secret, _ := tf.setupJSON(at)
	wantStatus(t, tf.postCode("/2fa/verify", at, tf.code(secret, 0)), 200)
	// An ES256 client on a server with only RS256 keys gets RS256.
	e.addClient("app", func(c *gatehouse.OAuthClient) { c.IDTokenAlg = "ES256" })
	b := e.newBrowser()
	verifier, ch := pkce()
	r := b.do("GET", "/authorize?"+authzParams("app", ch).Encode(), nil)
	login := b.do("GET", r.header.Get("Location"), nil)
	f := formFields(login.raw)
	f.Set("username", "alice")
	f.Set("password", "correct horse battery")
	step := b.do("POST", "/login", f)
	if !strings.Contains(step.raw, `name="otp"`) {
		t.Fatalf("no code step: %d %.300s", step.status, step.raw)
	}
	f = formFields(step.raw)
	e.clock.Advance(30 * time.Second)
	f.Set("otp", tf.code(secret, 0))
	r = b.do("POST", "/login", f)
	q, _ := b.authorizeFrom(r, "", "", "allow")
	tok := e.exchange("app", q.Get("code"), verifier)
	wantStatus(t, tok, 200)
	h, c := e.idToken(tok.str("id_token"))
	amr, _ := c["amr"].([]any)
	if h["alg"] != "RS256" || !slices.Contains(amr, any("pwd")) || !slices.Contains(amr, any("otp")) ||
		!slices.Contains(amr, any("mfa")) || c["acr"] != "urn:gatehouse:acr:mfa" {
		t.Fatalf("id_token after a login with 2FA: header %v, claims %v", h, c)
	}
}

func TestOAuthConsentAndSignOutFormsRefuseCrossOriginPosts(t *testing.T) {
	e := newOAuthEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	e.addClient("app", nil)
	b := e.newBrowser()
	_, ch := pkce()
	b.authorize(authzParams("app", ch, "scope", "openid"), "alice", "correct horse battery", "allow") // signed in
	crossSite := func(path string, form url.Values) response {
		req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		res, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return readResponse(res)
	}
	// A consent another site posts (for more scopes) issues nothing.
	f := authzParams("app", ch, "scope", "openid email")
	f.Set("consent", "allow")
	if r := crossSite("/authorize/consent", f); r.status != 403 || r.header.Get("Location") != "" {
		t.Fatalf("cross-site consent: %d %q", r.status, r.header.Get("Location"))
	}
	if r := b.do("GET", "/authorize?"+authzParams("app", ch, "scope", "openid email", "prompt", "none").Encode(), nil); redirectQuery(t, r).Get("error") != "consent_required" {
		t.Fatal("a cross-site consent was recorded")
	}
	// Nor can another site sign the user out.
	if r := crossSite("/end-session/confirm", url.Values{"client_id": {"app"}}); r.status != 403 {
		t.Fatalf("cross-site sign-out: %d", r.status)
	}
	wantStatus(t, b.do("GET", "/account", nil), 200)
}

func TestOAuthUnknownClientIDsAreLimitedPerAddress(t *testing.T) {
	e := newOAuthEnv(t)
	e.addClient("app", nil)
	_, ch := pkce()
	for i := range 31 { // 30 misses a minute, and the one that finds the limit reached
		r := e.form("/token", url.Values{"grant_type": {"client_credentials"}}, "Authorization", basic("ghost"+itoa(int64(i)), "x"))
		if r.status != 401 {
			t.Fatalf("unknown client %d: %d %s", i, r.status, r.raw)
		}
	}
	// Then made-up ids are refused without a lookup, at every endpoint.
	r := e.form("/token", url.Values{"grant_type": {"client_credentials"}}, "Authorization", basic("ghost-more", "x"))
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %v %s", r.status, r.header, r.raw)
	}
	if r := e.newBrowser().do("GET", "/authorize?"+authzParams("ghost-more", ch).Encode(), nil); r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("authorize over the limit: %d", r.status)
	}
	// A minute later, the address may look up again.
	e.clock.Advance(time.Minute)
	if r := e.form("/token", url.Values{"grant_type": {"client_credentials"}}, "Authorization", basic("ghost-again", "x")); r.status != 401 {
		t.Fatalf("after the wait: %d", r.status)
	}
}
